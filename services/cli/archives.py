"""``agentsuite archives``: archival memory — list, create and delete archives (by name or id),
insert the passages of a file in batches with a progress bar, and search them."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from agentsuite.client.errors import AgentSuiteError
from agentsuite.client.types import PassageInput
from services.cli import resolve
from services.cli.agents import confirm
from services.cli.console import Column, one_line
from services.cli.context import Context
from services.cli.exits import CliError, ExitCode
from services.cli.messages import parse_time
from services.cli.parsing import command, noun
from services.cli.passage_files import PassageFileError, batches, count_passages, read_passages
from services.cli.progress import progress_bar

MODES = ("hybrid", "vector", "full_text")


def list_columns(names: dict[str, str]) -> tuple[Column, ...]:
    return (
        Column("NAME", lambda a: a.name),
        Column("ID", lambda a: a.id),
        Column("EMBEDDER", lambda a: f"{a.embedder} ({a.dimension})"),
        Column("AGENTS", lambda a: [names.get(i, i) for i in a.agent_ids]),
        Column("CREATED", lambda a: a.create_time),
    )


SEARCH_COLUMNS = (
    Column("SCORE", lambda r: f"{r.score:.4f}"),
    Column("TAGS", lambda r: list(r.passage.tags)),
    Column("WHEN", lambda r: r.passage.create_time),
    Column("TEXT", lambda r: one_line(r.passage.text, 300), wrap=True),
)


def add_commands(commands) -> None:
    group = noun(commands, "archives", "archival memory: archives of passages searched by meaning and words")

    listing = command(group, "list", "list archives", _list)
    listing.add_argument("--agent", help="only the archives of this agent (name or id)")

    create = command(group, "create", "create an archive", _create)
    create.add_argument("name")
    create.add_argument("--embedder", default="", help="embedder name (default: the service's, local)")
    create.add_argument(
        "--dimension", type=int, default=0, help="embedding dimension (default: the embedder's)"
    )
    create.add_argument("--agent", help="attach it to this agent (name or id)")

    delete = command(group, "delete", "delete an archive and its passages", _delete)
    delete.add_argument("archive", help="name or id")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    insert = command(
        group, "insert", "insert the passages of FILE (text lines or JSONL; - for stdin)", _insert
    )
    insert.add_argument("archive", help="name or id")
    insert.add_argument("file")
    insert.add_argument("--format", choices=("auto", "lines", "jsonl"), default="auto")
    insert.add_argument("--batch", type=int, default=2000, help="passages per InsertPassages call")
    insert.add_argument("--tag", action="append", default=[], help="tag added to every passage (repeatable)")
    insert.add_argument("--skip", type=int, default=0, help="skip the first N passages (to resume)")
    insert.add_argument("--concurrency", type=int, default=2, help="InsertPassages calls in flight")

    search = command(group, "search", "search an archive, best passages first", _search)
    search.add_argument("archive", help="name or id")
    search.add_argument("query")
    search.add_argument("--mode", choices=MODES, default="hybrid")
    search.add_argument("--tag", action="append", default=[], help="only passages with this tag (repeatable)")
    search.add_argument("--all-tags", action="store_true", help="require every --tag instead of any")
    search.add_argument("--since", type=parse_time, help="only passages from this date or time on")
    search.add_argument("--until", type=parse_time, help="only passages before this date or time")
    search.add_argument("--limit", type=int, default=10)


async def _list(context: Context, args: argparse.Namespace) -> None:
    client = context.gateway
    agent_id = (await resolve.agent(client, args.agent)).id if args.agent else ""
    found = [a async for a in client.archives.list(agent_id=agent_id)]
    names = await resolve.agent_names(client, (i for a in found for i in a.agent_ids))
    context.output.table(found, list_columns(names), empty="no archives")


async def _create(context: Context, args: argparse.Namespace) -> None:
    client = context.gateway
    agent_id = (await resolve.agent(client, args.agent)).id if args.agent else ""
    archive = await client.archives.create(
        args.name, embedder=args.embedder, dimension=args.dimension, agent_id=agent_id
    )
    names = await resolve.agent_names(client, archive.agent_ids)
    context.output.record(archive, list_columns(names))


async def _delete(context: Context, args: argparse.Namespace) -> None:
    archive = await resolve.archive(context.gateway, args.archive)
    confirm(context, args, f"Delete archive {archive.name} ({archive.id}) and all its passages?")
    await context.gateway.archives.delete(archive.id)
    context.output.result(f"deleted archive {archive.name} ({archive.id})", {"deleted": archive.id})


async def _insert(context: Context, args: argparse.Namespace) -> int:
    if args.batch < 1 or args.concurrency < 1:
        raise CliError("--batch and --concurrency must be at least 1", ExitCode.USAGE)
    client = context.gateway
    archive = await resolve.archive(client, args.archive)
    try:
        total = (
            None if args.file == "-" else await asyncio.to_thread(count_passages, Path(args.file)) - args.skip
        )
        failure: list[str] = []
        done = 0
        with progress_bar(
            context.output, f"inserting into {archive.name}", total=total, unit="passages"
        ) as bar:

            async def send(first: int, batch: list[PassageInput]) -> None:
                nonlocal done
                try:
                    await client.passages.insert(archive.id, batch)
                except AgentSuiteError as exc:
                    failure.append(
                        f"passages {first + 1}-{first + len(batch)} were not inserted: {exc.message}"
                    )
                    return
                done += len(batch)
                bar.advance(len(batch))

            in_flight: set[asyncio.Task] = set()
            for first, batch in batches(
                read_passages(args.file, args.format, args.tag), args.batch, args.skip
            ):
                if failure:
                    break
                if len(in_flight) >= args.concurrency:
                    _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                in_flight.add(asyncio.create_task(send(first, batch)))
            if in_flight:
                await asyncio.wait(in_flight)
    except PassageFileError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    if failure:
        raise CliError(
            failure[0],
            ExitCode.ERROR,
            details=(
                f"{done:,} passages were inserted; batches are all-or-none, so no passage is half there.",
                "Check which batches landed (agentsuite archives search) before resuming with --skip.",
            ),
        )
    context.output.result(
        f"inserted {done:,} passages into archive {archive.name}",
        {"archive_id": archive.id, "inserted": done},
    )
    return ExitCode.OK


async def _search(context: Context, args: argparse.Namespace) -> None:
    archive = await resolve.archive(context.gateway, args.archive)
    results = await context.gateway.passages.search(
        args.query,
        archive_id=archive.id,
        mode=args.mode,
        tags=args.tag,
        tag_match="all" if args.all_tags else "any",
        start_time=args.since,
        end_time=args.until,
        limit=args.limit,
    )
    context.output.table(results, SEARCH_COLUMNS, empty=f"nothing in {archive.name} matches {args.query!r}")
