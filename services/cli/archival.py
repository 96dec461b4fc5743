"""``agentsuite archival``: create archives, bulk-insert passages from a file, search them — all through
the gateway's public MemoryService.

A file of passages is either plain text (one passage per non-empty line) or JSON Lines, one object
per line: ``{"text": ..., "tags": [...], "metadata": {...}, "create_time": "2025-05-01T12:00:00Z"}``
(only ``text`` is required). It is sent in batches (each batch is one all-or-none InsertPassages
call), two calls in flight, with a progress line on stderr. When a batch fails, everything before it
stays inserted and the message says how to resume with ``--skip``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from google.protobuf import struct_pb2, timestamp_pb2

from agentsuite.client import AgentSuiteError, Client
from agentsuite.memory.v1 import memory_pb2
from services.cli.gateway_access import add_gateway_arguments, api_key, gateway_client, missing_key
from services.common.settings import Settings

MODES = ("hybrid", "vector", "full_text")
# Well under the 16 MiB message limit, whatever the passages' sizes.
MAX_BATCH_BYTES = 8 * 1024 * 1024


def add_commands(commands) -> None:
    """Register ``archival create|insert|search`` on the top-level subparsers."""
    archival = commands.add_parser(
        "archival", help="archival memory: create archives, insert and search passages"
    )
    sub = archival.add_subparsers(dest="archival_command", required=True)

    create = sub.add_parser("create", help="create an archive and print its id")
    create.add_argument("name")
    create.add_argument("--embedder", default="", help="embedder name (default: the service's, local)")
    create.add_argument("--dimension", type=int, default=0, help="embedding dimension (default: native)")
    create.add_argument("--agent", default="", help="id of an agent to attach the archive to")

    insert = sub.add_parser("insert", help="insert the passages of FILE (text lines or JSONL; - for stdin)")
    insert.add_argument("file")
    insert.add_argument("--archive", required=True, help="id of the archive")
    insert.add_argument("--format", choices=("auto", "lines", "jsonl"), default="auto")
    insert.add_argument("--batch", type=int, default=2000, help="passages per InsertPassages call")
    insert.add_argument("--tag", action="append", default=[], help="tag added to every passage (repeatable)")
    insert.add_argument("--skip", type=int, default=0, help="skip the first N passages (to resume)")
    insert.add_argument("--concurrency", type=int, default=2, help="InsertPassages calls in flight")

    search = sub.add_parser("search", help="search an archive and print the best passages")
    search.add_argument("archive")
    search.add_argument("query")
    search.add_argument("--mode", choices=MODES, default="hybrid")
    search.add_argument("--tag", action="append", default=[], help="only passages with this tag (repeatable)")
    search.add_argument("--all-tags", action="store_true", help="require every --tag instead of any")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true", help="print results as JSON lines")

    for command in (create, insert, search):
        add_gateway_arguments(command)


async def run_archival(settings: Settings, args: argparse.Namespace) -> int:
    """Run one ``archival`` subcommand; the exit code."""
    key = api_key(settings, args)
    if not key:
        _error(missing_key(settings))
        return 2
    async with gateway_client(settings, args, key) as client:
        try:
            if args.archival_command == "create":
                return await _create(client, args)
            if args.archival_command == "insert":
                return await _insert(client, args)
            return await _search(client, args)
        except AgentSuiteError as exc:
            _error(str(exc))
            return 1
        except PassageFileError as exc:
            _error(str(exc))
            return 2


async def _create(client: Client, args) -> int:
    archive = await client.archives.create(
        args.name, embedder=args.embedder, dimension=args.dimension, agent_id=args.agent
    )
    print(archive.id)
    print(
        f"archive {archive.name!r}: embedder {archive.embedder}, {archive.dimension} dimensions",
        file=sys.stderr,
    )
    return 0


async def _insert(client: Client, args) -> int:
    if args.batch < 1 or args.concurrency < 1:
        raise PassageFileError("--batch and --concurrency must be at least 1")
    total = None if args.file == "-" else _count_passages(Path(args.file)) - args.skip
    progress = Progress(total)
    in_flight: set[asyncio.Task] = set()
    failure: list[str] = []

    async def send(first: int, batch: list[memory_pb2.PassageInput]) -> None:
        try:
            await client.passages.insert(args.archive, batch)
        except AgentSuiteError as exc:
            failure.append(f"passages {first + 1}-{first + len(batch)} were not inserted: {exc}")
            return
        progress.advance(len(batch))

    for first, batch in _batches(_read_passages(args.file, args.format, args.tag), args.batch, args.skip):
        if failure:
            break
        if len(in_flight) >= args.concurrency:
            _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(send(first, batch))
        in_flight.add(task)
    if in_flight:
        await asyncio.wait(in_flight)
    progress.finish()
    if failure:
        _error(failure[0])
        _error(
            f"{progress.done:,} passages were inserted; batches are all-or-none, so no passage is half there."
        )
        _error(
            "Check which batches landed (agentsuite archival search, or ListPassages) before resuming with --skip."
        )
        return 1
    print(f"inserted {progress.done:,} passages into archive {args.archive}", file=sys.stderr)
    return 0


async def _search(client: Client, args) -> int:
    results = await client.passages.search(
        args.query,
        archive_id=args.archive,
        mode=args.mode,
        tags=args.tag,
        tag_match="all" if args.all_tags else "any",
        limit=args.limit,
    )
    for result in results:
        passage = result.passage
        if args.json:
            print(
                json.dumps(
                    {
                        "id": passage.id,
                        "text": passage.text,
                        "tags": list(passage.tags),
                        "score": result.score,
                        "vector_score": result.vector_score,
                        "text_score": result.text_score,
                    }
                )
            )
        else:
            tags = f" [{', '.join(passage.tags)}]" if passage.tags else ""
            print(f"{result.score:.4f}  {passage.text}{tags}")
    return 0


# --- reading passage files ---------------------------------------------------------------------------


class PassageFileError(ValueError):
    """A line of the passage file cannot be read."""


def _read_passages(name: str, fmt: str, extra_tags: list[str]) -> Iterator[memory_pb2.PassageInput]:
    stream = sys.stdin if name == "-" else open(name, encoding="utf-8")
    try:
        lines = iter(stream)
        first = next(lines, None)
        if first is None:
            return
        jsonl = fmt == "jsonl" or (fmt == "auto" and _looks_like_jsonl(name, first))
        number = 0
        for number, line in enumerate(_chain(first, lines), start=1):
            if not line.strip():
                continue
            passage = (
                _json_passage(line, number) if jsonl else memory_pb2.PassageInput(text=line.rstrip("\r\n"))
            )
            passage.tags.extend(tag for tag in extra_tags if tag not in passage.tags)
            yield passage
    finally:
        if stream is not sys.stdin:
            stream.close()


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _looks_like_jsonl(name: str, first_line: str) -> bool:
    if name.endswith((".jsonl", ".ndjson")):
        return True
    try:
        return isinstance(json.loads(first_line), dict)
    except ValueError:
        return False


def _json_passage(line: str, number: int) -> memory_pb2.PassageInput:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise PassageFileError(f"line {number}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise PassageFileError(f'line {number}: expected an object with a "text" string')
    passage = memory_pb2.PassageInput(text=data["text"])
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise PassageFileError(f'line {number}: "tags" must be a list of strings')
    passage.tags.extend(tags)
    if data.get("metadata"):
        if not isinstance(data["metadata"], dict):
            raise PassageFileError(f'line {number}: "metadata" must be an object')
        passage.metadata.CopyFrom(_struct(data["metadata"]))
    when = data.get("create_time") or data.get("created_at")
    if when:
        try:
            moment = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        except ValueError:
            raise PassageFileError(f"line {number}: create_time {when!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise PassageFileError(f"line {number}: create_time {when!r} needs a time zone (e.g. Z)")
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(moment)
        passage.create_time.CopyFrom(stamp)
    return passage


def _struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _count_passages(path: Path) -> int:
    try:
        with path.open("rb") as source:
            return sum(1 for line in source if line.strip())
    except OSError as exc:
        raise PassageFileError(f"cannot read {path}: {exc.strerror}") from None


def _batches(
    passages: Iterator[memory_pb2.PassageInput], size: int, skip: int
) -> Iterator[tuple[int, list[memory_pb2.PassageInput]]]:
    """(index of the first passage, batch) pairs, cut at ``size`` passages or MAX_BATCH_BYTES."""
    batch: list[memory_pb2.PassageInput] = []
    first = skip
    nbytes = 0
    for index, passage in enumerate(passages):
        if index < skip:
            continue
        weight = passage.ByteSize() + 8
        if batch and (len(batch) >= size or nbytes + weight > MAX_BATCH_BYTES):
            yield first, batch
            first, batch, nbytes = index, [], 0
        batch.append(passage)
        nbytes += weight
    if batch:
        yield first, batch


# --- progress ------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, a line per 10% otherwise)."""

    total: int | None
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    _last_tenth: int = -1

    def advance(self, count: int) -> None:
        self.done += count
        self._draw()

    def finish(self) -> None:
        if sys.stderr.isatty():
            print(file=sys.stderr)

    def _draw(self) -> None:
        rate = self.done / max(time.monotonic() - self.started, 1e-9)
        if self.total:
            share = min(1.0, self.done / self.total)
            bar = "#" * int(share * 30)
            line = f"[{bar:<30}] {self.done:,}/{self.total:,} passages ({share:.0%}, {rate:,.0f}/s)"
            tenth = int(share * 10)
        else:
            line = f"{self.done:,} passages ({rate:,.0f}/s)"
            tenth = self.done // 10_000
        if sys.stderr.isatty():
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif tenth != self._last_tenth:
            print(line, file=sys.stderr, flush=True)
        self._last_tenth = tenth


def _error(message: str) -> None:
    print(f"agentsuite archival: {message}", file=sys.stderr)
