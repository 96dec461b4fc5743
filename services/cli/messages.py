"""``agentsuite messages``: an agent's history (recall memory) — a page of it, or a full-text search,
with a date range."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from agentsuite.client.types import Message, MessageRole
from services.cli import resolve
from services.cli.console import Column, one_line
from services.cli.context import Context
from services.cli.exits import CliError, ExitCode
from services.cli.parsing import command, noun

ROLES = ("user", "assistant", "tool", "system")
RELATIVE = re.compile(r"^(\d+)([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def role_name(message: Message) -> str:
    return MessageRole.Name(message.role).removeprefix("MESSAGE_ROLE_").lower()


def summary(message: Message, limit: int = 100) -> str:
    """What a message says, on one line: its text, the tools it called, or the result it carries."""
    calls = ", ".join(f"{c.name}({one_line(c.arguments_json, 40)})" for c in message.tool_calls)
    text = one_line(message.content, limit)
    if calls:
        return f"{text} → {calls}" if text else f"→ {calls}"
    return text


def model_of(message: Message) -> str:
    """The model that wrote an assistant message (its metadata says)."""
    return message.metadata.fields["model"].string_value if "model" in message.metadata.fields else ""


MESSAGE_COLUMNS = (
    Column("SEQ", lambda m: m.seq),
    Column("WHEN", lambda m: m.create_time),
    Column("ROLE", role_name),
    Column("NAME", lambda m: m.name),
    Column("MODEL", model_of),
    Column("TEXT", lambda m: summary(m), wrap=True),
)
SEARCH_COLUMNS = (
    Column("SCORE", lambda r: f"{r.score:.3f}"),
    Column("SEQ", lambda r: r.message.seq),
    Column("WHEN", lambda r: r.message.create_time),
    Column("ROLE", lambda r: role_name(r.message)),
    Column("TEXT", lambda r: summary(r.message), wrap=True),
)


def parse_time(text: str) -> datetime:
    """An ISO date or time (``2025-05-01``, ``2025-05-01T12:00``; local time unless it says), or a
    time ago (``30m``, ``2h``, ``7d``)."""
    match = RELATIVE.match(text.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time: write 2025-05-01, 2025-05-01T12:00 or a time ago such as 2h or 7d"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def add_commands(commands) -> None:
    group = noun(commands, "messages", "read and search an agent's message history")

    listing = command(group, "list", "list an agent's messages (the newest --limit, oldest first)", _list)
    listing.add_argument("agent", help="name or id")
    _filters(listing)
    listing.add_argument("--limit", type=int, default=50, help="most messages to show (default 50)")
    page = listing.add_mutually_exclusive_group()
    page.add_argument("--before-seq", type=int, default=0, help="only messages before this seq (older pages)")
    page.add_argument("--after-seq", type=int, default=0, help="only messages after this seq (newer pages)")

    search = command(group, "search", "full-text search of an agent's messages, best first", _search)
    search.add_argument("agent", help="name or id")
    search.add_argument("query", help='words, "a phrase", or -word (web search syntax)')
    _filters(search)
    search.add_argument("--limit", type=int, default=10, help="most results (default 10, at most 100)")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role", action="append", choices=ROLES, default=[], help="only this role (repeatable)"
    )
    parser.add_argument("--since", type=parse_time, help="from this date or time (or a time ago: 2h, 7d)")
    parser.add_argument("--until", type=parse_time, help="before this date or time")


async def _list(context: Context, args: argparse.Namespace) -> None:
    if args.limit < 1:
        raise CliError("--limit must be at least 1", ExitCode.USAGE)
    agent = await resolve.agent(context.gateway, args.agent)
    forward = bool(args.after_seq or args.since)
    found = context.gateway.messages.list(
        agent.id,
        descending=not forward,
        roles=args.role,
        after_seq=args.after_seq,
        before_seq=args.before_seq,
        page_size=min(args.limit, 1000),
    )
    page: list[Message] = []
    async for message in found:
        moment = message.create_time.ToDatetime(tzinfo=UTC)
        if args.until and moment >= args.until:
            if forward:
                break
            continue
        if args.since and moment < args.since:
            if forward:
                continue
            break
        page.append(message)
        if len(page) >= args.limit:
            break
    page.sort(key=lambda m: m.seq)
    context.output.table(page, MESSAGE_COLUMNS, empty=f"no messages of agent {agent.name} match")
    if page and not context.output.json_mode:
        context.output.note(
            f"seq {page[0].seq}-{page[-1].seq}; older: --before-seq {page[0].seq}, newer: --after-seq {page[-1].seq}"
        )


async def _search(context: Context, args: argparse.Namespace) -> None:
    agent = await resolve.agent(context.gateway, args.agent)
    results = await context.gateway.messages.search(
        agent.id,
        args.query,
        roles=args.role,
        start_time=args.since,
        end_time=args.until,
        limit=args.limit,
    )
    context.output.table(
        results, SEARCH_COLUMNS, empty=f"no message of agent {agent.name} matches {args.query!r}"
    )
