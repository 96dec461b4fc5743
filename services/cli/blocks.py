"""``agentsuite blocks``: an agent's core memory — list, show, edit (by value, append, replace, or
in ``$EDITOR``), history and restore. A block is named by its agent and label, or by its id."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from agentsuite.client.errors import Aborted
from agentsuite.client.types import AppendEdit, Block, BlockEdit, ReplaceEdit
from services.cli import resolve
from services.cli.console import Column, Output, as_data, one_line, when
from services.cli.context import Context
from services.cli.exits import CliError, ExitCode
from services.cli.parsing import command, noun

LIST_COLUMNS = (
    Column("LABEL", lambda b: b.label),
    Column("CHARS", lambda b: f"{len(b.value)}/{b.limit}"),
    Column("VERSION", lambda b: b.version),
    Column("READ-ONLY", lambda b: b.read_only),
    Column("AGENTS", lambda b: len(b.agent_ids)),
    Column("VALUE", lambda b: one_line(b.value, 60)),
)
SHOW_FIELDS = (
    Column("label", lambda b: b.label),
    Column("id", lambda b: b.id),
    Column("version", lambda b: b.version),
    Column("chars", lambda b: f"{len(b.value)} of {b.limit}"),
    Column("read-only", lambda b: b.read_only),
    Column("description", lambda b: b.description),
    Column("agents", lambda b: list(b.agent_ids)),
    Column("updated", lambda b: when(b.update_time)),
    Column("value", lambda b: b.value),
)
HISTORY_COLUMNS = (
    Column("VERSION", lambda e: e.version),
    Column("WHEN", lambda e: e.create_time),
    Column("BY", lambda e: f"run {e.run_id}" if e.run_id else "api"),
    Column("CHANGE", lambda e: change_summary(e.value_before, e.value_after)),
)


def add_commands(commands) -> None:
    group = noun(commands, "blocks", "read and edit an agent's core memory blocks")

    listing = command(group, "list", "list an agent's blocks", _list)
    listing.add_argument("agent", help="name or id")

    show = command(group, "show", "show a block", _show)
    _block_arguments(show)
    show.add_argument("--value", action="store_true", help="print only the value, as is")

    edit = command(group, "edit", "change a block's value (in $EDITOR when no other option is given)", _edit)
    _block_arguments(edit)
    how = edit.add_mutually_exclusive_group()
    how.add_argument("--value", help="the new value")
    how.add_argument("--append", metavar="TEXT", help="add TEXT on a new line at the end")
    how.add_argument("--replace", nargs=2, metavar=("OLD", "NEW"), help="replace the one occurrence of OLD")
    how.add_argument("--stdin", action="store_true", help="read the new value from stdin")
    edit.add_argument(
        "--expected-version", type=int, default=0, help="change only if the block is still at this version"
    )

    history = command(group, "history", "list a block's changes, newest first", _history)
    _block_arguments(history)

    restore = command(group, "restore", "set a block back to the value of a past version", _restore)
    _block_arguments(restore)
    restore.add_argument("version", type=int)


def _block_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", help="the agent's name or id")
    parser.add_argument("label", help="the block's label (or a block id)")


async def _list(context: Context, args: argparse.Namespace) -> None:
    agent = await resolve.agent(context.gateway, args.agent)
    found = [b async for b in context.gateway.blocks.list(agent_id=agent.id)]
    context.output.table(found, LIST_COLUMNS, empty=f"agent {agent.name} has no core memory blocks")


async def _show(context: Context, args: argparse.Namespace) -> None:
    block = await resolve.block(context.gateway, args.agent, args.label)
    if args.value and not context.output.json_mode:
        context.output.text(block.value)
    else:
        context.output.record(block, SHOW_FIELDS)


async def _edit(context: Context, args: argparse.Namespace) -> None:
    client = context.gateway
    block = await resolve.block(client, args.agent, args.label)
    expected = args.expected_version
    try:
        if args.append is not None:
            changed = await client.blocks.edit(
                BlockEdit(append=AppendEdit(text=args.append)), block_id=block.id, expected_version=expected
            )
        elif args.replace is not None:
            old, new = args.replace
            changed = await client.blocks.edit(
                BlockEdit(replace=ReplaceEdit(old_text=old, new_text=new)),
                block_id=block.id,
                expected_version=expected,
            )
        else:
            if args.value is not None:
                value = args.value
            elif args.stdin:
                value = await asyncio.to_thread(sys.stdin.read)
            else:
                value = await asyncio.to_thread(edit_in_editor, block)
                expected = expected or block.version  # someone may edit while the editor is open
            if value == block.value:
                context.output.result(f"{block.label}: unchanged (version {block.version})", block)
                return
            changed = await client.blocks.update(block.id, value=value, expected_version=expected)
    except Aborted:
        now = await client.blocks.get(block.id)
        raise CliError(
            f"block {block.label!r} was changed by someone else first: it is at version {now.version}, "
            f"not {expected}. Nothing was saved.",
            ExitCode.ERROR,
            details=(
                *diff_lines(block.value, now.value),
                "Look at it again (blocks show) and repeat the edit.",
            ),
        ) from None
    report_change(context.output, block, changed)


def edit_in_editor(block: Block) -> str:
    """The value after a person edited it in ``$VISUAL``/``$EDITOR`` (vi when neither is set)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile(
        "w+", suffix=f"-{block.label}.txt", delete=False, encoding="utf-8"
    ) as file:
        file.write(block.value)
        path = Path(file.name)
    try:
        status = subprocess.run([*shlex.split(editor), str(path)], check=False).returncode
        if status != 0:
            raise CliError(
                f"the editor ({editor}) exited with status {status}; nothing was saved", ExitCode.ERROR
            )
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)


def report_change(output: Output, before: Block, after: Block) -> None:
    """What an edit did: the version and the changed lines."""
    if output.json_mode:
        output.json(as_data(after))
        return
    output.out.print(f"{after.label}: version {before.version} → {after.version}", markup=False)
    for line in diff_lines(before.value, after.value):
        output.out.print(
            line, style="green" if line.startswith("+") else "red", markup=False, highlight=False
        )


def diff_lines(before: str, after: str) -> list[str]:
    """The lines that changed, as ``- old`` and ``+ new``."""
    return [
        f"{line[0]} {line[2:]}"
        for line in difflib.ndiff(before.splitlines(), after.splitlines())
        if line[:1] in "+-"
    ]


def change_summary(before: str, after: str) -> str:
    """One line saying what a change did."""
    changed = diff_lines(before, after)
    if not changed:
        return "(same value)"
    added = [line[2:] for line in changed if line.startswith("+")]
    removed = [line[2:] for line in changed if line.startswith("-")]
    parts = []
    if removed:
        parts.append("- " + one_line(" / ".join(removed), 40))
    if added:
        parts.append("+ " + one_line(" / ".join(added), 40))
    return "  ".join(parts)


async def _history(context: Context, args: argparse.Namespace) -> None:
    block = await resolve.block(context.gateway, args.agent, args.label)
    entries = [e async for e in context.gateway.blocks.history(block.id)]
    context.output.table(entries, HISTORY_COLUMNS, empty=f"block {block.label!r} has no changes yet")


async def _restore(context: Context, args: argparse.Namespace) -> None:
    client = context.gateway
    block = await resolve.block(client, args.agent, args.label)
    try:
        restored = await client.blocks.restore(block.id, args.version, expected_version=block.version)
    except Aborted:
        raise CliError(
            f"block {block.label!r} changed while restoring; nothing was restored. Try again.", ExitCode.ERROR
        ) from None
    context.output.note(f"restored {block.label} to the value of version {args.version}")
    report_change(context.output, block, restored)
