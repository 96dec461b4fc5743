"""``agentsuite agents``: create (from flags, a file or a template), list, show, update, delete,
export and import agents, by name or id."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from agentsuite.client import Client
from agentsuite.client.types import Agent
from services.cli import resolve
from services.cli.agent_files import (
    DEFAULT_TEMPLATE,
    AgentDraft,
    load_agent_file,
    load_template,
    parse_block,
    parse_model,
    templates,
)
from services.cli.console import Column, as_data, one_line, when
from services.cli.context import Context
from services.cli.exits import CliError, ExitCode
from services.cli.parsing import command, noun
from services.cli.progress import progress_bar

FOLLOWS_DEFAULT = "the suite's default"


def model_name(agent: Agent) -> str:
    """``provider/model`` as the agent names them, or that it follows the suite's default."""
    provider, model = agent.model.provider, agent.model.model
    if not provider and not model:
        return FOLLOWS_DEFAULT
    return f"{provider or 'default'}/{model or 'default'}"


LIST_COLUMNS = (
    Column("NAME", lambda a: a.name),
    Column("ID", lambda a: a.id),
    Column("MODEL", model_name),
    Column("TAGS", lambda a: list(a.tags)),
    Column("CREATED", lambda a: a.create_time),
)


def show_fields(tool_names: dict[str, str], block_labels: list[str]) -> tuple[Column, ...]:
    return (
        Column("name", lambda a: a.name),
        Column("id", lambda a: a.id),
        Column("description", lambda a: a.description),
        Column("model", model_name),
        Column("tools", lambda a: [tool_names.get(t, t) for t in a.tool_ids]),
        Column("blocks", lambda a: block_labels),
        Column("archive", lambda a: a.archive_id),
        Column("tags", lambda a: list(a.tags)),
        Column("max steps", lambda a: a.max_steps or "50 (default)"),
        Column("created", lambda a: when(a.create_time)),
        Column("updated", lambda a: when(a.update_time)),
        Column("system prompt", lambda a: a.system_prompt),
    )


def add_commands(commands) -> None:
    group = noun(commands, "agents", "create, list, show, update, delete, export and import agents")

    create = command(group, "create", "create an agent (from a template unless --from-file)", _create)
    create.add_argument("name", nargs="?", help="the agent's name (default: the file's name)")
    _add_agent_options(create)
    create.add_argument(
        "--block", action="append", default=[], help="a core memory block, LABEL=TEXT (repeatable)"
    )
    source = create.add_mutually_exclusive_group()
    source.add_argument("--from-file", type=Path, help="an agent file (YAML or JSON; see docs/cli.md)")
    source.add_argument("--template", help=f"a template name or file (default: {DEFAULT_TEMPLATE})")
    create.add_argument(
        "--tool", action="append", default=[], help="a tool to attach, by name or id (repeatable)"
    )

    listing = command(group, "list", "list agents", _list)
    listing.add_argument("--tag", action="append", default=[], help="only agents with this tag (repeatable)")
    listing.add_argument("--all-tags", action="store_true", help="require every --tag instead of any")
    listing.add_argument("--name", default="", help="only agents of this name")

    show = command(group, "show", "show an agent", _show)
    show.add_argument("agent", help="name or id")

    update = command(group, "update", "change an agent's settings (only those given)", _update)
    update.add_argument("agent", help="name or id")
    update.add_argument("--name", help="a new name")
    _add_agent_options(update)

    delete = command(group, "delete", "delete an agent and its memory", _delete)
    delete.add_argument("agent", help="name or id")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    export = command(group, "export", "write an agent as one portable JSON document", _export, json=False)
    export.add_argument("agent", help="name or id")
    export.add_argument("-o", "--output", default="-", help="file to write (default: - for stdout)")
    export.add_argument("--messages", action="store_true", help="include the message history")
    export.add_argument("--passages", action="store_true", help="include the archival passages")

    imported = command(group, "import", "create a new agent from a document made by export", _import)
    imported.add_argument("file", help="the document (- for stdin)")
    imported.add_argument("--name", default="", help="name of the new agent (default: the document's)")

    command(group, "templates", "list the templates agents can start from", _templates, gateway=False)


def _add_agent_options(parser: argparse.ArgumentParser) -> None:
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--system", help="the system prompt")
    prompt.add_argument("--system-file", type=Path, help="read the system prompt from this file")
    parser.add_argument(
        "--model",
        help="PROVIDER/MODEL or MODEL pins a model; 'default' follows the suite's default model",
    )
    parser.add_argument("--description")
    parser.add_argument("--tag", action="append", default=None, help="a tag (repeatable; replaces the tags)")
    parser.add_argument("--max-steps", type=int, help="most steps per run (0: the default, 50)")


async def _create(context: Context, args: argparse.Namespace) -> None:
    if args.from_file:
        draft = load_agent_file(args.from_file)
    else:
        draft = load_template(args.template or DEFAULT_TEMPLATE)
    draft = _with_flags(draft, args)
    name = args.name or draft.name
    if not name:
        raise CliError(
            "name the agent: agentsuite agents create NAME (or a name: in the --from-file file)",
            ExitCode.USAGE,
        )
    agent = await create_agent(context.gateway, name, draft)
    context.output.note(f"created agent {agent.name} ({agent.id})")
    await _print_agent(context, agent)


async def create_agent(client: Client, name: str, draft: AgentDraft) -> Agent:
    """Create the agent ``draft`` describes, its tools looked up by name or id."""
    tools = [await resolve.tool(client, ref) for ref in draft.tools]
    return await client.agents.create(
        name,
        system_prompt=draft.system_prompt,
        description=draft.description,
        model=draft.model,
        tool_ids=[t.id for t in tools],
        tool_rules=draft.tool_rules,
        tags=draft.tags,
        metadata=draft.metadata or None,
        max_steps=draft.max_steps,
        blocks=draft.blocks,
    )


def _with_flags(draft: AgentDraft, args: argparse.Namespace) -> AgentDraft:
    changes = {}
    if args.system is not None:
        changes["system_prompt"] = args.system
    if args.system_file is not None:
        changes["system_prompt"] = _read(args.system_file)
    if args.model is not None:
        changes["model"] = parse_model(args.model)
    if args.description is not None:
        changes["description"] = args.description
    if args.tag is not None:
        changes["tags"] = tuple(args.tag)
    if args.max_steps is not None:
        changes["max_steps"] = args.max_steps
    if args.tool:
        changes["tools"] = (*draft.tools, *args.tool)
    draft = replace(draft, **changes)
    return draft.with_blocks([parse_block(text) for text in args.block])


async def _list(context: Context, args: argparse.Namespace) -> None:
    found = context.gateway.agents.list(
        tags=args.tag, tag_match="all" if args.all_tags else "any", name=args.name
    )
    context.output.table(
        [a async for a in found], LIST_COLUMNS, empty="no agents yet (agentsuite agents create NAME)"
    )


async def _show(context: Context, args: argparse.Namespace) -> None:
    await _print_agent(context, await resolve.agent(context.gateway, args.agent))


async def _print_agent(context: Context, agent: Agent) -> None:
    if context.output.json_mode:
        context.output.json(as_data(agent))
        return
    client = context.gateway
    tools = await asyncio.gather(*(client.tools.get(t) for t in agent.tool_ids), return_exceptions=True)
    names = {t.id: t.name for t in tools if not isinstance(t, BaseException)}
    labels = [b.label async for b in client.blocks.list(agent_id=agent.id)]
    context.output.record(agent, show_fields(names, labels))


async def _update(context: Context, args: argparse.Namespace) -> None:
    agent = await resolve.agent(context.gateway, args.agent)
    fields = {}
    if args.name is not None:
        fields["name"] = args.name
    if args.system is not None:
        fields["system_prompt"] = args.system
    if args.system_file is not None:
        fields["system_prompt"] = _read(args.system_file)
    if args.model is not None:
        fields["model"] = parse_model(args.model)
    if args.description is not None:
        fields["description"] = args.description
    if args.tag is not None:
        fields["tags"] = args.tag
    if args.max_steps is not None:
        fields["max_steps"] = args.max_steps
    if not fields:
        raise CliError(
            "nothing to change: give at least one of --name, --system, --model, --description, --tag, --max-steps",
            ExitCode.USAGE,
        )
    updated = await context.gateway.agents.update(agent.id, **fields)
    context.output.note(f"updated agent {updated.name}: {', '.join(sorted(fields))}")
    await _print_agent(context, updated)


async def _delete(context: Context, args: argparse.Namespace) -> None:
    agent = await resolve.agent(context.gateway, args.agent)
    confirm(context, args, f"Delete agent {agent.name} ({agent.id}) and all its memory?")
    await context.gateway.agents.delete(agent.id)
    context.output.result(f"deleted agent {agent.name} ({agent.id})", {"deleted": agent.id})


def confirm(context: Context, args: argparse.Namespace, question: str) -> None:
    """Ask ``question`` on a terminal unless ``--yes``; without a terminal, ``--yes`` is required."""
    if args.yes:
        return
    if not sys.stdin.isatty() or context.output.json_mode:
        raise CliError(f"{question} Add --yes to confirm.", ExitCode.USAGE)
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CliError("not confirmed; nothing changed", ExitCode.ERROR)


async def _export(context: Context, args: argparse.Namespace) -> None:
    agent = await resolve.agent(context.gateway, args.agent)
    with progress_bar(context.output, f"exporting {agent.name}", total=None):
        document = await context.gateway.agents.export(
            agent.id, messages=args.messages, passages=args.passages
        )
    if args.output == "-":
        context.output.text(document)
        return
    await asyncio.to_thread(Path(args.output).write_text, document + "\n", "utf-8")
    context.output.note(
        f"exported agent {agent.name} ({agent.id}) to {args.output} ({len(document):,} bytes)"
    )


async def _import(context: Context, args: argparse.Namespace) -> None:
    document = await asyncio.to_thread(sys.stdin.read) if args.file == "-" else _read(Path(args.file))
    with progress_bar(context.output, f"importing {args.file}", total=None):
        agent = await context.gateway.agents.import_(document, name=args.name)
    context.output.note(f"imported agent {agent.name} ({agent.id})")
    await _print_agent(context, agent)


async def _templates(context: Context, args: argparse.Namespace) -> None:
    rows = []
    for name, path in templates().items():
        draft = load_agent_file(path, template=True)
        rows.append(
            {
                "name": name,
                "description": draft.description,
                "blocks": [b.label for b in draft.blocks],
                "path": str(path),
            }
        )
    context.output.table(
        rows,
        (
            Column("NAME", lambda r: r["name"]),
            Column("BLOCKS", lambda r: r["blocks"]),
            Column("DESCRIPTION", lambda r: one_line(r["description"], 70)),
            Column("FILE", lambda r: r["path"]),
        ),
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}", ExitCode.USAGE) from None
