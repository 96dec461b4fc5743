"""``agentsuite runs``: list, show, watch (from any seq, also after the run ended), cancel and
approve (or ``--deny`` with a reason) runs."""

from __future__ import annotations

import argparse

from agentsuite.client.events import RunFinished
from agentsuite.client.types import Run, RunStatus
from services.cli import resolve
from services.cli.console import Column, as_data, one_line, when
from services.cli.context import Context
from services.cli.exits import CliError, ExitCode
from services.cli.parsing import command, noun
from services.cli.run_view import RunPrinter, call_text, stop_name, usage_line

STATUSES = ("queued", "running", "completed", "failed", "cancelled", "awaiting_approval")


def status_name(run: Run) -> str:
    return RunStatus.Name(run.status).removeprefix("RUN_STATUS_").lower()


def _input(run: Run) -> str:
    return one_line(" / ".join(m.content for m in run.input), 60)


def list_columns(names: dict[str, str]) -> tuple[Column, ...]:
    return (
        Column("ID", lambda r: r.id),
        Column("AGENT", lambda r: names.get(r.agent_id, r.agent_id)),
        Column("STATUS", status_name),
        Column("STOP", lambda r: stop_name(r.stop_reason) if r.stop_reason else ""),
        Column("STEPS", lambda r: r.usage.steps),
        Column("TOKENS", lambda r: r.usage.total_tokens),
        Column("CREATED", lambda r: r.create_time),
        Column("INPUT", _input),
    )


SHOW_FIELDS = (
    Column("id", lambda r: r.id),
    Column("agent", lambda r: r.agent_id),
    Column("status", status_name),
    Column(
        "stop", lambda r: f"{stop_name(r.stop_reason)}: {r.stop_detail}".rstrip(": ") if r.stop_reason else ""
    ),
    Column("usage", lambda r: usage_line(r.usage, "").removeprefix("model ? · ")),
    Column("created", lambda r: when(r.create_time)),
    Column("started", lambda r: when(r.start_time)),
    Column("finished", lambda r: when(r.finish_time)),
    Column("last seq", lambda r: r.last_seq),
    Column("awaiting", lambda r: [f"{c.id}: {call_text(c, 60)}" for c in r.pending_approvals]),
    Column("parent run", lambda r: r.parent_run_id),
    Column("input", lambda r: "\n".join(m.content for m in r.input)),
)


def add_commands(commands) -> None:
    group = noun(commands, "runs", "list, show, watch, cancel and approve runs")

    listing = command(group, "list", "list runs, newest first", _list)
    listing.add_argument("--agent", help="only this agent's runs (name or id)")
    listing.add_argument(
        "--status", action="append", choices=STATUSES, default=[], help="only runs in this state (repeatable)"
    )
    listing.add_argument("--limit", type=int, default=20, help="most runs to show (default 20)")

    show = command(group, "show", "show a run", _show)
    show.add_argument("run", help="run id")

    watch = command(
        group, "watch", "print a run's events (stored ones first, then live) until it ends", _watch
    )
    watch.add_argument("run", help="run id")
    watch.add_argument(
        "--after-seq", type=int, default=0, help="start after this seq (default: from the start)"
    )

    cancel = command(group, "cancel", "cancel a queued or running run", _cancel)
    cancel.add_argument("run", help="run id")

    approve = command(
        group, "approve", "approve (or --deny) the tool calls a run waits on; it goes on", _approve
    )
    approve.add_argument("run", help="run id")
    approve.add_argument("--deny", action="store_true", help="deny instead of approve")
    approve.add_argument("--reason", default="", help="why (the model reads it when denied)")
    approve.add_argument(
        "--call", action="append", default=[], help="only this tool call id (repeatable; default: all)"
    )


async def _list(context: Context, args: argparse.Namespace) -> None:
    client = context.gateway
    agent_id = (await resolve.agent(client, args.agent)).id if args.agent else ""
    found = []
    async for run in client.runs.list(
        agent_id=agent_id, statuses=args.status, page_size=min(args.limit, 1000)
    ):
        found.append(run)
        if len(found) >= args.limit:
            break
    names = await resolve.agent_names(client, (run.agent_id for run in found))
    context.output.table(found, list_columns(names), empty="no runs")


async def _show(context: Context, args: argparse.Namespace) -> None:
    context.output.record(await context.gateway.runs.get(args.run), SHOW_FIELDS)


async def _watch(context: Context, args: argparse.Namespace) -> int:
    client = context.gateway
    run = await client.runs.get(args.run)
    names = await resolve.agent_names(client, [run.agent_id])
    printer = RunPrinter(context.output, agent_name=names.get(run.agent_id, "agent"), usage=True)
    after = args.after_seq
    while True:
        stop = None
        async for event in client.runs.watch(run.id, after_seq=after):
            if context.output.json_mode:
                context.output.json_line({"type": type(event).__name__, **_event_data(event)})
            else:
                await printer.show(event)
            if isinstance(event, RunFinished):
                stop = event
        finished = await client.runs.get(run.id)
        # A run that stopped for approval goes on under its id once approved: its stream ends at
        # that stop, and what followed comes from a watch after it.
        if stop is None or finished.last_seq <= stop.seq:
            break
        after = stop.seq
    if not context.output.json_mode:
        context.output.note(f"run {run.id}: {status_name(finished)} (last seq {finished.last_seq})")
    return (
        ExitCode.OK
        if finished.status in (RunStatus.RUN_STATUS_COMPLETED, RunStatus.RUN_STATUS_AWAITING_APPROVAL)
        else ExitCode.ERROR
    )


def _event_data(event) -> dict:
    return as_data(event.raw) if event.raw is not None else {"run_id": event.run_id, "seq": event.seq}


async def _cancel(context: Context, args: argparse.Namespace) -> None:
    run = await context.gateway.runs.cancel(args.run)
    context.output.result(f"run {run.id}: {status_name(run)}", run)


async def _approve(context: Context, args: argparse.Namespace) -> int:
    client = context.gateway
    run = await client.runs.get(args.run)
    if run.status != RunStatus.RUN_STATUS_AWAITING_APPROVAL:
        raise CliError(f"run {run.id} is {status_name(run)}, not awaiting approval", ExitCode.ERROR)
    pending = {call.id: call for call in run.pending_approvals}
    unknown = [c for c in args.call if c not in pending]
    if unknown:
        raise CliError(
            f"run {run.id} does not wait on call {unknown[0]!r}; it waits on: {', '.join(pending)}",
            ExitCode.NOT_FOUND,
        )
    chosen = args.call or list(pending)
    # Every pending call needs a decision: those not chosen get the opposite one.
    decisions = {call_id: (call_id in chosen) != args.deny for call_id in pending}
    verb = "denied" if args.deny else "approved"
    for call_id in chosen:
        context.output.note(f"{verb} {call_text(pending[call_id], 80)}")
    result = await client.runs.approve(run.agent_id, decisions, reason=args.reason)
    if context.output.json_mode:
        context.output.json({"run": as_data(result.run), "messages": as_data(result.messages)})
    else:
        if result.text:
            context.output.text(result.text)
        context.output.note(f"run {result.run.id}: {status_name(result.run)}")
    return ExitCode.OK if result.run.status != RunStatus.RUN_STATUS_FAILED else ExitCode.ERROR
