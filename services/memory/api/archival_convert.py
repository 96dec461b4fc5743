"""Conversions and request checks between archival memory's contract and the core's dataclasses."""

from __future__ import annotations

from datetime import UTC

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2
from services.common.errors import InvalidArgument, Validation
from services.common.paging import decode_token
from services.common.protobuf import from_struct, to_struct, to_timestamp
from services.memory.api.convert import time_range
from services.memory.core.archival import (
    Archive,
    NewPassage,
    Passage,
    PassageFilter,
    ScoredPassage,
    SearchMode,
)

MAX_PASSAGES_PER_INSERT = 10_000
"""Passages per InsertPassages call (a full call of short passages stays under 16 MiB)."""
MAX_TEXT = 100_000
"""Characters of one passage."""
MAX_TAGS = 64
"""Tags of one passage (and tags of one filter)."""
MAX_TAG = 200
"""Characters of one tag."""
MAX_NAME = 200
"""Characters of an archive's name."""
MAX_QUERY = 10_000
"""Characters of a search query."""


def archive_to_proto(archive: Archive) -> memory_pb2.Archive:
    return memory_pb2.Archive(
        id=archive.id,
        name=archive.name,
        embedder=archive.embedder,
        dimension=archive.dimension,
        agent_ids=archive.agent_ids,
        create_time=to_timestamp(archive.created_at),
    )


def passage_to_proto(passage: Passage) -> memory_pb2.Passage:
    return memory_pb2.Passage(
        id=passage.id,
        archive_id=passage.archive_id,
        text=passage.text,
        tags=passage.tags,
        metadata=to_struct(passage.metadata),
        create_time=to_timestamp(passage.created_at),
    )


def scored_to_proto(result: ScoredPassage) -> memory_pb2.ScoredPassage:
    return memory_pb2.ScoredPassage(
        passage=passage_to_proto(result.passage),
        score=result.score,
        vector_score=result.vector_score,
        text_score=result.text_score,
    )


def new_passages(inputs) -> list[NewPassage]:
    """The passages of an InsertPassages request, every bad field reported at once."""
    check = Validation()
    check.check(
        0 < len(inputs) <= MAX_PASSAGES_PER_INSERT,
        "passages",
        f"must hold between 1 and {MAX_PASSAGES_PER_INSERT} passages per call; split larger inserts",
    )
    passages = []
    for index, given in enumerate(inputs):
        field = f"passages[{index}]"
        check.check(bool(given.text.strip()), f"{field}.text", "must not be empty")
        check.check(len(given.text) <= MAX_TEXT, f"{field}.text", f"must be at most {MAX_TEXT} characters")
        check.check("\x00" not in given.text, f"{field}.text", "must not contain NUL characters")
        _check_tags(check, given.tags, f"{field}.tags")
        if len(check.violations) > 20:  # enough to fix the request; don't build a huge error
            break
        passages.append(
            NewPassage(
                text=given.text,
                tags=tuple(dict.fromkeys(given.tags)),
                metadata=from_struct(given.metadata),
                created_at=given.create_time.ToDatetime(tzinfo=UTC)
                if given.HasField("create_time")
                else None,
            )
        )
    check.raise_if_any()
    return passages


def passage_filter(request, *, with_time: bool) -> PassageFilter:
    """The tag (and, for searches, time) filter of a List or Search request."""
    check = Validation()
    _check_tags(check, request.tags, "tags")
    check.check(
        request.tag_match
        in (common_pb2.TAG_MATCH_UNSPECIFIED, common_pb2.TAG_MATCH_ANY, common_pb2.TAG_MATCH_ALL),
        "tag_match",
        "unknown value",
    )
    start, end = time_range(request, check) if with_time else (None, None)
    check.raise_if_any()
    return PassageFilter(
        tags=tuple(dict.fromkeys(request.tags)),
        all_tags=request.tag_match == common_pb2.TAG_MATCH_ALL,
        start=start,
        end=end,
    )


def search_mode(value: int) -> SearchMode:
    if value == memory_pb2.SEARCH_MODE_UNSPECIFIED:
        return SearchMode.HYBRID
    try:
        return SearchMode(value)
    except ValueError:
        raise InvalidArgument.field("mode", f"unknown search mode {value}") from None


def decode_offset_token(token: str) -> int:
    position = decode_token(token)
    if position is None:
        return 0
    offset = position.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidArgument.field("page_token", "is not a token this service issued")
    return offset


def _check_tags(check: Validation, tags, field: str) -> None:
    check.check(len(tags) <= MAX_TAGS, field, f"must hold at most {MAX_TAGS} tags")
    check.check(all(tags), field, "tags must not be empty")
    check.check(all(len(tag) <= MAX_TAG for tag in tags), field, f"a tag has at most {MAX_TAG} characters")
    check.check(not any("\x00" in tag for tag in tags), field, "tags must not contain NUL characters")
