"""Agent files and templates: an agent described in YAML or JSON, for ``agents create --from-file``,
and templates (agent files without a name) that ``chat`` and ``agents create`` start from.

    name: helper                         # templates leave it out
    description: ...
    system_prompt: |
      You are ...
    model: openai/gpt-4o-mini            # or {provider, model, context_window, temperature, ...};
                                         # leave it out to follow the suite's default model
    blocks:                              # core memory
      - {label: persona, value: "I am ...", limit: 5000, description: ...}
      - {label: human, value: "..."}
    tools: [lookup_weather]              # names or ids of registered tools
    tool_rules: [{tool_name: lookup_weather, max_calls: {max_calls: 2}}]
    tags: [demo]
    metadata: {team: docs}
    max_steps: 20

Templates are looked up by name in ``$AGENTSUITE_TEMPLATES_DIR``, then
``~/.config/agentsuite/templates`` (``$XDG_CONFIG_HOME``), then the ones shipped here; a path to a
file works too. Anyone adds one by dropping a ``NAME.yaml`` there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from agentsuite.agent.v1 import agent_pb2
from services.cli.exits import CliError, ExitCode

DEFAULT_TEMPLATE = "memgpt"
SHIPPED_TEMPLATES = Path(__file__).resolve().parent / "templates"
KEYS = (
    "name",
    "description",
    "system_prompt",
    "model",
    "blocks",
    "tools",
    "tool_rules",
    "tags",
    "metadata",
    "max_steps",
)


@dataclass(frozen=True)
class AgentDraft:
    """An agent to create, as a file or a template describes it (tools still by name or id)."""

    name: str = ""
    description: str = ""
    system_prompt: str = ""
    model: agent_pb2.ModelConfig | None = None
    blocks: tuple[agent_pb2.BlockSpec, ...] = ()
    tools: tuple[str, ...] = ()
    tool_rules: tuple[agent_pb2.ToolRule, ...] = ()
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    max_steps: int = 0

    def with_blocks(self, blocks: list[agent_pb2.BlockSpec]) -> AgentDraft:
        """This draft with ``blocks`` added, replacing a block of the same label."""
        labels = {block.label for block in blocks}
        return replace(self, blocks=(*(b for b in self.blocks if b.label not in labels), *blocks))


def parse_model(text: str) -> agent_pb2.ModelConfig:
    """``provider/model`` pins both, ``model`` pins the model on the default provider, ``default``
    (or empty) follows the suite's default model."""
    if text in ("", "default"):
        return agent_pb2.ModelConfig()
    provider, _, model = text.rpartition("/")
    return agent_pb2.ModelConfig(provider=provider, model=model)


def parse_block(text: str) -> agent_pb2.BlockSpec:
    """``label=value`` (``--block``)."""
    label, sep, value = text.partition("=")
    if not sep or not label.strip():
        raise CliError(
            f"--block {text!r}: write it as LABEL=TEXT, e.g. --block human='Ana, a nurse'", ExitCode.USAGE
        )
    return agent_pb2.BlockSpec(label=label.strip(), value=value)


def load_agent_file(path: Path, *, template: bool = False) -> AgentDraft:
    """The agent described in ``path`` (YAML or JSON); a usage error naming the file and the key
    when it is not one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}", ExitCode.USAGE) from None
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: not valid YAML or JSON: {exc}", ExitCode.USAGE) from None
    return draft_from(data or {}, where=str(path), template=template)


def draft_from(data: Any, *, where: str, template: bool = False) -> AgentDraft:
    """An :class:`AgentDraft` from the parsed contents of an agent file."""
    if not isinstance(data, dict):
        raise CliError(f"{where}: an agent file is a mapping of {', '.join(KEYS)}", ExitCode.USAGE)
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise CliError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(KEYS)}", ExitCode.USAGE)
    if template and data.get("name"):
        raise CliError(
            f"{where}: a template has no name (the agent's name is given when creating it)", ExitCode.USAGE
        )

    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CliError(f"{where}: {key} is a list of strings", ExitCode.USAGE)
        return tuple(value)

    model = data.get("model")
    if isinstance(model, str):
        model = parse_model(model)
    elif model is not None:
        model = _message(agent_pb2.ModelConfig, model, f"{where}: model")
    blocks = data.get("blocks") or []
    if isinstance(blocks, dict):  # the short form, label: value
        blocks = [{"label": label, "value": value} for label, value in blocks.items()]
    if not isinstance(blocks, list):
        raise CliError(
            f"{where}: blocks is a list of blocks (or a mapping of label to value)", ExitCode.USAGE
        )
    # YAML's "|" keeps a final newline: a block's value is the text without it.
    blocks = [
        {**block, "value": block["value"].rstrip("\n")}
        if isinstance(block, dict) and isinstance(block.get("value"), str)
        else block
        for block in blocks
    ]
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise CliError(f"{where}: metadata is a mapping", ExitCode.USAGE)
    for key in ("name", "description", "system_prompt"):
        if not isinstance(data.get(key, ""), str):
            raise CliError(f"{where}: {key} is a string", ExitCode.USAGE)
    if not isinstance(data.get("max_steps", 0), int):
        raise CliError(f"{where}: max_steps is a whole number", ExitCode.USAGE)
    return AgentDraft(
        name=data.get("name", ""),
        description=data.get("description", ""),
        system_prompt=data.get("system_prompt", ""),
        model=model,
        blocks=tuple(
            _message(agent_pb2.BlockSpec, block, f"{where}: blocks[{i}]") for i, block in enumerate(blocks)
        ),
        tools=strings("tools"),
        tool_rules=tuple(
            _message(agent_pb2.ToolRule, rule, f"{where}: tool_rules[{i}]")
            for i, rule in enumerate(data.get("tool_rules") or [])
        ),
        tags=strings("tags"),
        metadata=metadata,
        max_steps=data.get("max_steps", 0),
    )


def _message(kind, data: Any, where: str):
    try:
        return json_format.ParseDict(data, kind())
    except (json_format.ParseError, TypeError, AttributeError) as exc:
        raise CliError(f"{where}: {exc}", ExitCode.USAGE) from None


# -- templates ---------------------------------------------------------------------------------


def template_dirs() -> list[Path]:
    """Where templates are looked up, first match wins."""
    dirs = []
    if os.environ.get("AGENTSUITE_TEMPLATES_DIR"):
        dirs.append(Path(os.environ["AGENTSUITE_TEMPLATES_DIR"]))
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    dirs.append(config / "agentsuite" / "templates")
    dirs.append(SHIPPED_TEMPLATES)
    return dirs


def templates() -> dict[str, Path]:
    """Every template by name (a user's hides a shipped one of the same name)."""
    found: dict[str, Path] = {}
    for directory in template_dirs():
        for path in sorted(directory.glob("*.y*ml")) + sorted(directory.glob("*.json")):
            found.setdefault(path.stem, path)
    return found


def load_template(name_or_path: str) -> AgentDraft:
    """The template named ``name_or_path``, or in that file."""
    path = templates().get(name_or_path)
    if path is None:
        candidate = Path(name_or_path).expanduser()
        if not candidate.is_file():
            known = ", ".join(sorted(templates()))
            raise CliError(
                f"no template {name_or_path!r}; known: {known} (add one as NAME.yaml in {template_dirs()[-2]})",
                ExitCode.NOT_FOUND,
            )
        path = candidate
    return load_agent_file(path, template=True)
