"""``agentsuite tools``: register a Python function as a tool (``add FILE.py``), list, show, test-run
in the sandbox, delete, and attach to or detach from agents. Tools by name or id."""

from __future__ import annotations

import argparse
import ast
import json
from datetime import timedelta
from pathlib import Path

from google.protobuf import json_format

from agentsuite.client.errors import AlreadyExists
from agentsuite.client.types import ExecutionStatus, Tool
from services.cli import resolve
from services.cli.console import Column, as_data, one_line, when
from services.cli.context import Context
from services.cli.exits import CliError, ExitCode
from services.cli.parsing import command, noun

LIST_COLUMNS = (
    Column("NAME", lambda t: t.name),
    Column("ID", lambda t: t.id),
    Column("APPROVAL", lambda t: t.requires_approval),
    Column("SECRETS", lambda t: list(t.secret_names)),
    Column("DESCRIPTION", lambda t: one_line(t.description, 60)),
)


def parameters(tool: Tool) -> str:
    """The tool's parameters as ``name: type`` (required ones without a ``?``)."""
    schema = _plain(tool.json_schema)
    params = schema.get("parameters", schema)
    required = set(params.get("required", []))
    return ", ".join(
        f"{name}{'' if name in required else '?'}: {spec.get('type', 'any')}"
        for name, spec in sorted(
            params.get("properties", {}).items(), key=lambda item: item[0] not in required
        )
    )


SHOW_FIELDS = (
    Column("name", lambda t: t.name),
    Column("id", lambda t: t.id),
    Column("description", lambda t: t.description),
    Column("parameters", parameters),
    Column("requires approval", lambda t: t.requires_approval),
    Column("parallel safe", lambda t: t.parallel_safe),
    Column("secrets", lambda t: list(t.secret_names)),
    Column(
        "timeout",
        lambda t: f"{t.timeout.ToTimedelta().total_seconds():g} s" if t.timeout.seconds else "default",
    ),
    Column("tags", lambda t: list(t.tags)),
    Column("updated", lambda t: when(t.update_time)),
    Column("source", lambda t: t.source_code),
)


def add_commands(commands) -> None:
    group = noun(commands, "tools", "register, run and attach custom tools (Python functions)")

    add = command(group, "add", "register the function in FILE.py as a tool", _add)
    add.add_argument("file", type=Path, help="Python source of one function with type hints and a docstring")
    add.add_argument("--requires-approval", action="store_true", help="a human approves each call")
    add.add_argument("--parallel-safe", action="store_true", help="calls may run at the same time")
    add.add_argument(
        "--secret",
        action="append",
        default=[],
        help="a secret the tool reads from its environment (repeatable)",
    )
    add.add_argument("--timeout", type=float, help="the tool's time limit per call, in seconds")
    add.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
    add.add_argument(
        "--replace", action="store_true", help="update the tool of the same name if there is one"
    )

    command(group, "list", "list tools", _list)

    show = command(group, "show", "show a tool, its parameters and source", _show)
    show.add_argument("tool", help="name or id")

    run = command(group, "run", "run a tool in the sandbox with JSON arguments", _run)
    run.add_argument("tool", help="name or id")
    run.add_argument("arguments", nargs="?", default="{}", help='a JSON object, e.g. \'{"city": "Lisbon"}\'')
    run.add_argument("--agent", help="use this agent's secrets (name or id)")

    delete = command(group, "delete", "delete a tool", _delete)
    delete.add_argument("tool", help="name or id")

    attach = command(group, "attach", "let an agent call a tool", _attach)
    attach.add_argument("tool", help="name or id")
    attach.add_argument("agent", help="name or id")

    detach = command(group, "detach", "take a tool away from an agent", _detach)
    detach.add_argument("tool", help="name or id")
    detach.add_argument("agent", help="name or id")


async def _add(context: Context, args: argparse.Namespace) -> None:
    try:
        source = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror}", ExitCode.USAGE) from None
    options = dict(
        requires_approval=args.requires_approval,
        parallel_safe=args.parallel_safe,
        secret_names=args.secret,
        tags=args.tag,
    )
    if args.timeout is not None:
        options["timeout_limit"] = timedelta(seconds=args.timeout)
    client = context.gateway
    try:
        tool = await client.tools.create(source, **options)
        verb = "added"
    except AlreadyExists as exc:
        if not args.replace:
            raise CliError(f"{exc.message}; add --replace to update it", ExitCode.ERROR) from None
        name = exc.resource_name or _function_name(source)
        existing = await resolve.tool(client, name)
        changes = {"source_code": source, **options}
        if "timeout_limit" in changes:
            changes["timeout"] = changes.pop("timeout_limit")
        tool = await client.tools.update(existing.id, **changes)
        verb = "updated"
    context.output.note(f"{verb} tool {tool.name} ({tool.id}): {parameters(tool) or 'no parameters'}")
    context.output.record(tool, SHOW_FIELDS[:-1])


def _function_name(source: str) -> str:
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node.name
    raise CliError("the file defines no function", ExitCode.USAGE)


async def _list(context: Context, args: argparse.Namespace) -> None:
    found = [t async for t in context.gateway.tools.list()]
    context.output.table(found, LIST_COLUMNS, empty="no tools yet (agentsuite tools add FILE.py)")


async def _show(context: Context, args: argparse.Namespace) -> None:
    context.output.record(await resolve.tool(context.gateway, args.tool), SHOW_FIELDS)


async def _run(context: Context, args: argparse.Namespace) -> int:
    try:
        arguments = json.loads(args.arguments)
    except json.JSONDecodeError as exc:
        raise CliError(f"arguments: not JSON ({exc.msg} at character {exc.pos})", ExitCode.USAGE) from None
    if not isinstance(arguments, dict):
        raise CliError('arguments: a JSON object, e.g. \'{"city": "Lisbon"}\'', ExitCode.USAGE)
    client = context.gateway
    tool = await resolve.tool(client, args.tool)
    agent_id = (await resolve.agent(client, args.agent)).id if args.agent else ""
    result = await client.tools.run(tool.id, arguments=arguments, agent_id=agent_id)
    outcome = ExecutionStatus.Name(result.status).removeprefix("EXECUTION_STATUS_").lower()
    seconds = result.duration.ToTimedelta().total_seconds()
    if context.output.json_mode:
        context.output.json({"tool": tool.name, "outcome": outcome, **_plain_result(result)})
    else:
        output = context.output
        if result.status == ExecutionStatus.EXECUTION_STATUS_OK:
            output.text(_pretty(result.result_json))
        elif result.error_type or result.error_message:
            output.err.print(f"{result.error_type}: {result.error_message}", markup=False)
        for name, stream in (("stdout", result.stdout), ("stderr", result.stderr)):
            if stream:
                output.err.print(f"--- {name} ---\n{stream.rstrip()}", markup=False, style="dim")
        truncated = " (result truncated)" if result.truncated else ""
        output.err.print(f"{tool.name}: {outcome} in {seconds * 1000:.0f} ms{truncated}", markup=False)
    return ExitCode.OK if result.status == ExecutionStatus.EXECUTION_STATUS_OK else ExitCode.ERROR


def _pretty(result_json: str) -> str:
    try:
        return json.dumps(json.loads(result_json), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        return result_json


def _plain_result(result) -> dict:
    data = as_data(result)
    try:
        data["result"] = json.loads(result.result_json)
    except json.JSONDecodeError:
        pass
    return data


def _plain(struct):
    return json_format.MessageToDict(struct)


async def _delete(context: Context, args: argparse.Namespace) -> None:
    tool = await resolve.tool(context.gateway, args.tool)
    await context.gateway.tools.delete(tool.id)
    context.output.result(f"deleted tool {tool.name} ({tool.id})", {"deleted": tool.id})


async def _attach(context: Context, args: argparse.Namespace) -> None:
    client = context.gateway
    tool = await resolve.tool(client, args.tool)
    agent = await resolve.agent(client, args.agent)
    if tool.id in agent.tool_ids:
        context.output.result(f"{agent.name} already has {tool.name}", agent)
        return
    updated = await client.agents.update(agent.id, tool_ids=[*agent.tool_ids, tool.id])
    context.output.result(f"attached {tool.name} to {agent.name}", updated)


async def _detach(context: Context, args: argparse.Namespace) -> None:
    client = context.gateway
    tool = await resolve.tool(client, args.tool)
    agent = await resolve.agent(client, args.agent)
    if tool.id not in agent.tool_ids:
        raise CliError(f"agent {agent.name} does not have tool {tool.name}", ExitCode.NOT_FOUND)
    remaining = [t for t in agent.tool_ids if t != tool.id]
    rules = [r for r in agent.tool_rules if r.tool_name != tool.name]
    updated = await client.agents.update(agent.id, tool_ids=remaining, tool_rules=rules)
    context.output.result(f"detached {tool.name} from {agent.name}", updated)
