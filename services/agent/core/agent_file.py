"""The agent document: one portable JSON object that carries an agent into another tenant or suite.

Version 1 looks like this (``messages``, ``context`` and ``passages`` only when exported)::

    {"format": "agentsuite.agent", "version": 1, "exported_at": "2025-05-01T12:00:00+00:00",
     "agent": {"name", "description", "system_prompt", "model": {"provider", "model",
               "context_window", "temperature", "max_output_tokens"}, "tags", "metadata",
               "max_steps", "tool_rules": [{"tool_name", "kind", "children", "max_calls"}]},
     "blocks": [{"label", "value", "limit", "read_only", "description", "metadata"}],
     "tools": [{"name", "description", "source_code", "json_schema", "parallel_safe",
                "requires_approval", "result_char_limit", "timeout_seconds", "tags"}],
     "messages": [{"role", "content", "reasoning", "tool_calls": [{"id", "name", "arguments"}],
                   "tool_call_id", "name", "step", "metadata", "create_time"}],
     "context": {"summary", "evicted_messages"},
     "passages": [{"text", "tags", "metadata", "create_time"}]}

Ids never appear: an import assigns new ones. Shared blocks travel as plain values; tools travel
as full definitions (never secrets); ``evicted_messages`` counts the first messages the summary
stands for. Unknown keys are ignored, so a later minor addition stays readable.

This module is pure: :class:`DocumentWriter` writes a document piece by piece with a size cap, and
:func:`parse_document` reads one back, naming every bad field by its JSON path.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from services.agent.core.agents import BUILTIN_TOOL_NAMES, AgentSpec, InitialBlock, ModelChoice
from services.agent.core.tool_rules import ToolRule
from services.common.errors import FailedPrecondition, FieldViolation, InvalidArgument, Validation
from services.common.values import MAX_INT32, value_problem

FORMAT = "agentsuite.agent"
VERSION = 1
ROLES = ("system", "user", "assistant", "tool")
MAX_MESSAGE_CHARS = 1_000_000
"""Characters of one message's content (memory's limit)."""
MAX_PASSAGE_CHARS = 100_000
"""Characters of one passage (memory's limit)."""
MAX_PASSAGE_TAGS = 64
MAX_PASSAGE_TAG = 200
MAX_TIMEOUT = 86_400
"""A tool's timeout in seconds: far past what the tools service allows, well inside a Duration."""
MAX_VIOLATIONS = 50
"""Field violations reported for one document; a document broken everywhere says so once."""
ENVELOPE_BYTES = 64 * 1024
"""Room left in a gRPC message for what surrounds the document."""
ROOT = "document_json"
DOCUMENT_NESTING = 3
"""Levels of the document around a metadata object (document, messages, message), which may nest
as deep as metadata anywhere."""
"""Violations name JSON paths inside the request's ``document_json``."""


def document_limit(max_message_bytes: int) -> int:
    """The largest document one gRPC message of ``max_message_bytes`` carries."""
    return max(max_message_bytes - ENVELOPE_BYTES, max_message_bytes // 2)


@dataclass(frozen=True, kw_only=True)
class FileTool:
    """A custom tool, complete enough to create it again."""

    name: str
    description: str = ""
    source_code: str
    json_schema: dict | None = None
    parallel_safe: bool = False
    requires_approval: bool = False
    result_char_limit: int = 0
    timeout_seconds: float | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FileToolCall:
    id: str
    name: str
    arguments: str
    """The call's arguments as the model wrote them (a JSON text)."""


@dataclass(frozen=True, kw_only=True)
class FileMessage:
    """One message of the history."""

    role: str
    """One of :data:`ROLES`."""
    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[FileToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""
    step: int = 0
    metadata: dict = field(default_factory=dict)
    create_time: datetime | None = None
    seq: int = 0
    """Sequence number in the exporting agent's history; not written."""


@dataclass(frozen=True, kw_only=True)
class FilePassage:
    text: str
    tags: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)
    create_time: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class AgentFile:
    """A parsed document."""

    spec: AgentSpec
    """The agent's configuration; ``tool_ids`` is empty (tools are in :attr:`tools`), rules name
    tools by name."""
    blocks: tuple[InitialBlock, ...] = ()
    tools: tuple[FileTool, ...] = ()
    messages: tuple[FileMessage, ...] | None = None
    """``None`` when the document carries no history (exported without it)."""
    summary: str = ""
    evicted_messages: int = 0
    passages: tuple[FilePassage, ...] | None = None


# --- writing -------------------------------------------------------------------------------------


def agent_json(spec: AgentSpec) -> dict[str, Any]:
    model = spec.model
    return {
        "name": spec.name,
        "description": spec.description,
        "system_prompt": spec.system_prompt,
        "model": {
            "provider": model.provider,
            "model": model.model,
            "context_window": model.context_window,
            "temperature": model.temperature,
            "max_output_tokens": model.max_output_tokens,
        },
        "tags": list(spec.tags),
        "metadata": spec.metadata,
        "max_steps": spec.max_steps,
        "tool_rules": [rule.to_json() for rule in spec.tool_rules],
    }


def block_json(block: InitialBlock) -> dict[str, Any]:
    return {
        "label": block.label,
        "value": block.value,
        "limit": block.limit,
        "read_only": block.read_only,
        "description": block.description,
        "metadata": block.metadata,
    }


def tool_json(tool: FileTool) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.description,
        "source_code": tool.source_code,
        "json_schema": tool.json_schema,
        "parallel_safe": tool.parallel_safe,
        "requires_approval": tool.requires_approval,
        "result_char_limit": tool.result_char_limit,
        "timeout_seconds": tool.timeout_seconds,
        "tags": list(tool.tags),
    }


def message_json(message: FileMessage) -> dict[str, Any]:
    return {
        "role": message.role,
        "content": message.content,
        "reasoning": message.reasoning,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls],
        "tool_call_id": message.tool_call_id,
        "name": message.name,
        "step": message.step,
        "metadata": message.metadata,
        "create_time": _time_json(message.create_time),
    }


def passage_json(passage: FilePassage) -> dict[str, Any]:
    return {
        "text": passage.text,
        "tags": list(passage.tags),
        "metadata": passage.metadata,
        "create_time": _time_json(passage.create_time),
    }


def _time_json(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class DocumentWriter:
    """Writes one JSON object field by field, arrays item by item, and refuses to grow past
    ``limit`` bytes (FAILED_PRECONDITION): a large history is encoded page by page as it arrives,
    and an export too large for one message stops as soon as it is."""

    def __init__(self, limit: int):
        self._limit = limit
        self._parts: list[str] = []
        self._size = 0

    def field(self, key: str, value: Any) -> None:
        self._key(key)
        self._write(_encode(value))

    async def array(self, key: str, pages: AsyncIterable[Iterable[dict[str, Any]]]) -> int:
        """Write ``key`` as an array of every item of ``pages``; the number of items."""
        self._key(key)
        self._write("[")
        count = 0
        async for page in pages:
            for item in page:
                self._write(("," if count else "") + _encode(item))
                count += 1
        self._write("]")
        return count

    def finish(self) -> str:
        self._write("}")
        return "".join(self._parts)

    def _key(self, key: str) -> None:
        self._write(("," if self._parts else "{") + _encode(key) + ":")

    def _write(self, text: str) -> None:
        self._size += len(text.encode())
        if self._size > self._limit:
            raise FailedPrecondition(
                f"the agent's document would be larger than {self._limit} bytes, the most one "
                "response carries; export it without messages or passages, or raise "
                "AGENTSUITE_MAX_MESSAGE_BYTES on every service and client",
                reason="DOCUMENT_TOO_LARGE",
            )
        self._parts.append(text)


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- reading -------------------------------------------------------------------------------------


def parse_document(document_json: str, *, limit: int, name_override: str = "") -> AgentFile:
    """The document in ``document_json``; InvalidArgument naming each bad field by its JSON path
    (``document_json.messages[3].role``). Only the document's own shape is checked here: the
    agent's configuration is checked like any agent's by the caller."""
    if len(document_json.encode()) > limit:
        raise InvalidArgument.field(ROOT, f"larger than {limit} bytes")
    try:
        data = json.loads(document_json)
    except json.JSONDecodeError as exc:
        raise InvalidArgument.field(
            ROOT, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidArgument.field(ROOT, "nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidArgument.field(ROOT, "must be a JSON object")
    if problem := value_problem(data, depth=-DOCUMENT_NESTING):
        raise InvalidArgument.field(ROOT, problem)
    if data.get("format") != FORMAT:
        raise InvalidArgument.field(
            f"{ROOT}.format", f"must be {FORMAT!r} (an agent document made by ExportAgent)"
        )
    version = data.get("version")
    if version != VERSION or isinstance(version, bool):
        raise InvalidArgument.field(
            f"{ROOT}.version", f"unsupported version {version!r}; this service reads version {VERSION}"
        )
    reader = _Reader()
    document = reader.document(data, name_override)
    reader.raise_if_any()
    return document


class _Reader:
    """Reads the parts of a document, recording every bad field instead of stopping at the first."""

    def __init__(self):
        self.check = Validation()

    def raise_if_any(self) -> None:
        violations = self.check.violations
        if len(violations) > MAX_VIOLATIONS:
            more = len(violations) - MAX_VIOLATIONS
            del violations[MAX_VIOLATIONS:]
            violations.append(FieldViolation(ROOT, f"and {more} more problems"))
        self.check.raise_if_any()

    def bad(self, path: str, description: str) -> None:
        self.check.check(False, path, description)

    def document(self, data: dict, name_override: str) -> AgentFile:
        agent = self.object(data, "agent", ROOT, required=True)
        spec = self.spec(agent, f"{ROOT}.agent")
        if name_override:
            spec = replace(spec, name=name_override)
        # Checks across items run only on lists whose every item was readable: their indexes
        # then are the document's.
        known = len(self.check.violations)
        messages = self.list_of(data, "messages", ROOT, self.message)
        if messages and len(self.check.violations) == known:
            self.check_tool_results(messages)
        context = self.object(data, "context", ROOT)
        evicted = self.integer(context, "evicted_messages", f"{ROOT}.context")
        if evicted and (messages is None or evicted > len(messages)):
            self.bad(f"{ROOT}.context.evicted_messages", "more than the document's messages")
        elif evicted and messages and evicted < len(messages) and messages[evicted].role == "tool":
            self.bad(
                f"{ROOT}.context.evicted_messages",
                "would separate a tool call from its result (the next kept message is a tool result)",
            )
        known = len(self.check.violations)
        blocks = self.list_of(data, "blocks", ROOT, self.block) or []
        if len(self.check.violations) == known:
            self.unique([b.label for b in blocks], f"{ROOT}.blocks", "label")
        known = len(self.check.violations)
        tools = self.list_of(data, "tools", ROOT, self.tool) or []
        if len(self.check.violations) == known:
            self.unique([t.name for t in tools], f"{ROOT}.tools", "name")
        return AgentFile(
            spec=spec,
            blocks=tuple(blocks),
            tools=tuple(tools),
            messages=None if messages is None else tuple(messages),
            summary=self.text(context, "summary", f"{ROOT}.context", limit=MAX_MESSAGE_CHARS),
            evicted_messages=evicted,
            passages=None if (p := self.list_of(data, "passages", ROOT, self.passage)) is None else tuple(p),
        )

    def spec(self, agent: dict, path: str) -> AgentSpec:
        model = self.object(agent, "model", path)
        model_path = f"{path}.model"
        temperature = model.get("temperature")
        if temperature is not None and (
            isinstance(temperature, bool) or not isinstance(temperature, int | float)
        ):
            self.bad(f"{model_path}.temperature", "must be a number or null")
            temperature = None
        return AgentSpec(
            name=self.text(agent, "name", path),
            description=self.text(agent, "description", path),
            system_prompt=self.text(agent, "system_prompt", path),
            model=ModelChoice(
                provider=self.text(model, "provider", model_path),
                model=self.text(model, "model", model_path),
                context_window=self.integer(model, "context_window", model_path),
                temperature=temperature,
                max_output_tokens=self.integer(model, "max_output_tokens", model_path),
            ),
            tags=self.strings(agent, "tags", path),
            metadata=self.object(agent, "metadata", path),
            max_steps=self.integer(agent, "max_steps", path),
            tool_rules=tuple(self.list_of(agent, "tool_rules", path, self.rule) or ()),
        )

    def rule(self, value: Any, path: str) -> ToolRule | None:
        try:
            return ToolRule.from_json(value)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.bad(
                path,
                'expected {"tool_name": ..., "kind": "terminal" | "run_first" | "allowed_children" '
                '| "max_calls", "children": [...], "max_calls": n}',
            )
            return None

    def block(self, value: Any, path: str) -> InitialBlock | None:
        if not self.is_object(value, path):
            return None
        label = self.text(value, "label", path)
        if not label.strip():
            self.bad(f"{path}.label", "is required")
        return InitialBlock(
            label=label,
            value=self.text(value, "value", path),
            limit=self.integer(value, "limit", path),
            read_only=self.boolean(value, "read_only", path),
            description=self.text(value, "description", path),
            metadata=self.object(value, "metadata", path),
        )

    def tool(self, value: Any, path: str) -> FileTool | None:
        if not self.is_object(value, path):
            return None
        name = self.text(value, "name", path)
        if not name.isidentifier():
            self.bad(f"{path}.name", "required, a Python identifier")
        elif name in BUILTIN_TOOL_NAMES:
            self.bad(f"{path}.name", f"{name!r} is the name of a built-in tool")
        source = self.text(value, "source_code", path)
        if not source.strip():
            self.bad(f"{path}.source_code", "is required")
        schema = value.get("json_schema")
        if schema is not None and not isinstance(schema, dict):
            self.bad(f"{path}.json_schema", "must be an object or null")
            schema = None
        timeout = value.get("timeout_seconds")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= MAX_TIMEOUT
        ):
            self.bad(
                f"{path}.timeout_seconds",
                f"must be a positive number of seconds up to {MAX_TIMEOUT}, or null",
            )
            timeout = None
        return FileTool(
            name=name,
            description=self.text(value, "description", path),
            source_code=source,
            json_schema=schema,
            parallel_safe=self.boolean(value, "parallel_safe", path),
            requires_approval=self.boolean(value, "requires_approval", path),
            result_char_limit=self.integer(value, "result_char_limit", path),
            timeout_seconds=timeout,
            tags=self.strings(value, "tags", path),
        )

    def message(self, value: Any, path: str) -> FileMessage | None:
        if not self.is_object(value, path):
            return None
        role = self.text(value, "role", path)
        if role not in ROLES:
            self.bad(f"{path}.role", f"must be one of {', '.join(ROLES)}")
        tool_call_id = self.text(value, "tool_call_id", path)
        if role == "tool" and not tool_call_id:
            self.bad(f"{path}.tool_call_id", "required for a tool message: the id of the call it answers")
        return FileMessage(
            role=role,
            content=self.text(value, "content", path, limit=MAX_MESSAGE_CHARS),
            reasoning=self.text(value, "reasoning", path, limit=MAX_MESSAGE_CHARS),
            tool_calls=tuple(self.list_of(value, "tool_calls", path, self.tool_call) or ()),
            tool_call_id=tool_call_id,
            name=self.text(value, "name", path),
            step=self.integer(value, "step", path),
            metadata=self.object(value, "metadata", path),
            create_time=self.time(value, "create_time", path),
        )

    def tool_call(self, value: Any, path: str) -> FileToolCall | None:
        if not self.is_object(value, path):
            return None
        call_id = self.text(value, "id", path)
        if not call_id:
            self.bad(f"{path}.id", "is required")
        return FileToolCall(
            id=call_id, name=self.text(value, "name", path), arguments=self.text(value, "arguments", path)
        )

    def check_tool_results(self, messages: list[FileMessage]) -> None:
        """A tool message must answer a call of an earlier message (memory refuses it otherwise)."""
        calls: set[str] = set()
        for index, message in enumerate(messages):
            if message.role == "tool" and message.tool_call_id and message.tool_call_id not in calls:
                self.bad(
                    f"{ROOT}.messages[{index}].tool_call_id",
                    f"answers no tool call of an earlier message ({message.tool_call_id[:80]!r})",
                )
            calls.update(call.id for call in message.tool_calls)

    def passage(self, value: Any, path: str) -> FilePassage | None:
        if not self.is_object(value, path):
            return None
        text = self.text(value, "text", path, limit=MAX_PASSAGE_CHARS)
        if not text.strip() or "\x00" in text:
            self.bad(f"{path}.text", "required, without NUL characters")
        tags = self.strings(value, "tags", path)
        if len(tags) > MAX_PASSAGE_TAGS or any(not 0 < len(tag) <= MAX_PASSAGE_TAG for tag in tags):
            self.bad(
                f"{path}.tags",
                f"must hold at most {MAX_PASSAGE_TAGS} tags of 1 to {MAX_PASSAGE_TAG} characters",
            )
        return FilePassage(
            text=text,
            tags=tags,
            metadata=self.object(value, "metadata", path),
            create_time=self.time(value, "create_time", path),
        )

    # Fields of one kind. A missing (or null) field reads as its empty value.

    def is_object(self, value: Any, path: str) -> bool:
        if not isinstance(value, dict):
            self.bad(path, "must be an object")
            return False
        return True

    def object(self, data: dict, key: str, path: str, *, required: bool = False) -> dict:
        value = data.get(key)
        if value is None:
            if required:
                self.bad(f"{path}.{key}", "is required")
            return {}
        return value if self.is_object(value, f"{path}.{key}") else {}

    def text(self, data: dict, key: str, path: str, *, limit: int | None = None) -> str:
        value = data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.bad(f"{path}.{key}", "must be a string")
            return ""
        if limit is not None and len(value) > limit:
            self.bad(f"{path}.{key}", f"must be at most {limit} characters")
        return value

    def integer(self, data: dict, key: str, path: str) -> int:
        value = data.get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT32:
            self.bad(f"{path}.{key}", f"must be a whole number from 0 to {MAX_INT32}")
            return 0
        return value

    def boolean(self, data: dict, key: str, path: str) -> bool:
        value = data.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.bad(f"{path}.{key}", "must be true or false")
            return False
        return value

    def strings(self, data: dict, key: str, path: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.bad(f"{path}.{key}", "must be an array of strings")
            return ()
        return tuple(value)

    def time(self, data: dict, key: str, path: str) -> datetime | None:
        value = data.get(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
            if moment is not None and moment.tzinfo is not None:
                moment = moment.astimezone(UTC)  # its zone may take it past the year 1 or 9999
        except (ValueError, OverflowError):
            moment = None
        if moment is None or moment.tzinfo is None:
            self.bad(
                f"{path}.{key}", "must be an ISO 8601 time with a time zone (years 1 to 9999 in UTC), or null"
            )
            return None
        return moment

    def list_of(self, data: dict, key: str, path: str, read) -> list | None:
        """The items of the array ``key`` read by ``read(item, path)`` (bad ones left out), or
        ``None`` when the document has no such array."""
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.bad(f"{path}.{key}", "must be an array")
            return []
        items = (read(item, f"{path}.{key}[{index}]") for index, item in enumerate(value))
        return [item for item in items if item is not None]

    def unique(self, names: list[str], path: str, key: str) -> None:
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                self.bad(f"{path}[{index}].{key}", f"{name[:80]!r} appears twice")
            seen.add(name)
