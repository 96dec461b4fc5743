"""Passage files for ``archives insert``: plain text (one passage per non-empty line) or JSON Lines,
one object per line: ``{"text": ..., "tags": [...], "metadata": {...}, "create_time":
"2025-05-01T12:00:00Z"}`` (only ``text`` is required), cut into batches for InsertPassages."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from google.protobuf import struct_pb2, timestamp_pb2

from agentsuite.memory.v1 import memory_pb2

# Well under the 16 MiB message limit, whatever the passages' sizes.
MAX_BATCH_BYTES = 8 * 1024 * 1024


class PassageFileError(ValueError):
    """A line of the passage file cannot be read."""


def read_passages(name: str, fmt: str, extra_tags: list[str]) -> Iterator[memory_pb2.PassageInput]:
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


def count_passages(path: Path) -> int:
    try:
        with path.open("rb") as source:
            return sum(1 for line in source if line.strip())
    except OSError as exc:
        raise PassageFileError(f"cannot read {path}: {exc.strerror}") from None


def batches(
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
