"""The agent document: what the writer writes the reader reads back; the writer stops at its size
cap; every malformed field is named by its JSON path."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.agent.core import agent_file
from services.agent.core.agent_file import (
    MAX_VIOLATIONS,
    DocumentWriter,
    FileMessage,
    FilePassage,
    FileTool,
    FileToolCall,
    parse_document,
)
from services.agent.core.agents import AgentSpec, InitialBlock, ModelChoice
from services.agent.core.tool_rules import RuleKind, ToolRule
from services.common.errors import FailedPrecondition, InvalidArgument

LIMIT = 1 << 20
SPEC = AgentSpec(
    name="helper",
    description="helps",
    system_prompt="Be brief.",
    model=ModelChoice(provider="openai", model="gpt-x", context_window=8000, temperature=0.3),
    tool_rules=(ToolRule(tool_name="lookup", kind=RuleKind.ALLOWED_CHILDREN, children=("send",)),),
    tags=("a", "b"),
    metadata={"team": "blue"},
    max_steps=9,
)
WHEN = datetime(2024, 3, 1, 12, tzinfo=UTC)
MESSAGES = (
    FileMessage(role="user", content="look up kiwi ü", step=1, create_time=WHEN),
    FileMessage(
        role="assistant",
        reasoning="hmm",
        tool_calls=(FileToolCall(id="c1", name="lookup", arguments='{"q": "kiwi"}'),),
        step=1,
    ),
    FileMessage(role="tool", content='"KIWI"', tool_call_id="c1", name="lookup", step=2, metadata={"x": 1}),
)
PASSAGES = (FilePassage(text="Ann's cat is Pixel", tags=("cats",), metadata={"k": "v"}, create_time=WHEN),)
BLOCKS = (InitialBlock(label="human", value="Ann", limit=50, read_only=True, description="who"),)
TOOLS = (
    FileTool(
        name="lookup", source_code="def lookup(q: str) -> str: ...", json_schema=None, timeout_seconds=2.5
    ),
)


async def pages(*items):
    yield list(items)


async def write(limit: int = LIMIT) -> str:
    writer = DocumentWriter(limit)
    writer.field("format", agent_file.FORMAT)
    writer.field("version", agent_file.VERSION)
    writer.field("agent", agent_file.agent_json(SPEC))
    writer.field("blocks", [agent_file.block_json(b) for b in BLOCKS])
    writer.field("tools", [agent_file.tool_json(t) for t in TOOLS])
    await writer.array("messages", pages(*(agent_file.message_json(m) for m in MESSAGES)))
    writer.field("context", {"summary": "Ann asked about kiwi.", "evicted_messages": 1})
    await writer.array("passages", pages(*(agent_file.passage_json(p) for p in PASSAGES)))
    return writer.finish()


async def test_what_the_writer_writes_the_reader_reads_back():
    document = parse_document(await write(), limit=LIMIT)

    assert document.spec == SPEC
    assert (document.blocks, document.tools, document.passages) == (BLOCKS, TOOLS, PASSAGES)
    assert document.messages == MESSAGES
    assert (document.summary, document.evicted_messages) == ("Ann asked about kiwi.", 1)


async def test_a_document_without_history_or_passages_says_so():
    writer = DocumentWriter(LIMIT)
    writer.field("format", agent_file.FORMAT)
    writer.field("version", agent_file.VERSION)
    writer.field("agent", agent_file.agent_json(SPEC))

    document = parse_document(writer.finish(), limit=LIMIT, name_override="copy")

    assert (document.messages, document.passages, document.spec.name) == (None, None, "copy")


async def test_the_writer_stops_at_its_cap():
    size = len((await write()).encode())

    assert len((await write(limit=size)).encode()) == size
    with pytest.raises(FailedPrecondition, match="export it without messages or passages"):
        await write(limit=size - 1)


def test_a_document_over_the_limit_is_refused_before_it_is_parsed():
    with pytest.raises(InvalidArgument) as caught:
        parse_document("x" * 101, limit=100)

    assert caught.value.violations[0].field == "document_json"


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("{", "document_json", "not JSON"),
        ("[]", "document_json", "object"),
        ("[" * 100_000, "document_json", ""),
        ('{"version": 1}', "document_json.format", "agentsuite.agent"),
        ('{"format": "agentsuite.agent", "version": 2}', "document_json.version", "version 2"),
        ('{"format": "agentsuite.agent", "version": true}', "document_json.version", ""),
        ('{"format": "agentsuite.agent", "version": 1}', "document_json.agent", "required"),
        # What PostgreSQL or protobuf cannot hold, wherever it is in the document.
        ('{"format": "agentsuite.agent", "version": 1, "x": NaN}', "document_json", "not finite"),
        ('{"format": "agentsuite.agent", "version": 1, "x": [Infinity]}', "document_json", "not finite"),
        ('{"format": "agentsuite.agent", "version": 1, "x": "a\\u0000b"}', "document_json", "NUL"),
        (
            '{"format": "agentsuite.agent", "version": 1, "x": ' + "[" * 40 + "]" * 40 + "}",
            "document_json",
            "nested",
        ),
    ],
)
def test_a_document_that_is_not_one_is_named(text, field, says):
    with pytest.raises(InvalidArgument) as caught:
        parse_document(text, limit=LIMIT)

    [violation] = caught.value.violations
    assert violation.field == field and says in violation.description


def fields_of(**parts) -> list[str]:
    data = {"format": agent_file.FORMAT, "version": 1, "agent": {"name": "x"}, **parts}
    with pytest.raises(InvalidArgument) as caught:
        parse_document(json.dumps(data), limit=LIMIT)
    return [v.field for v in caught.value.violations]


def test_integers_past_32_bits_are_named():
    agent = {"name": "x", "model": {"context_window": 2**40}}
    assert fields_of(agent=agent) == ["document_json.agent.model.context_window"]


def test_every_malformed_field_is_named_by_its_json_path():
    assert fields_of(
        agent={"name": 5, "model": {"temperature": "hot", "context_window": -1}, "tags": "a"},
        blocks=[{"label": ""}, "block"],
        tools=[{"name": "core_memory_append", "source_code": "x"}, {"name": "1x", "timeout_seconds": 0}],
        messages=[
            {"role": "robot"},
            {"role": "assistant", "tool_calls": [{"name": "f"}]},
            {"role": "user", "create_time": "yesterday", "step": 1.5},
        ],
        passages=[{"text": "", "tags": ["x" * 201]}],
    ) == [
        "document_json.agent.model.temperature",
        "document_json.agent.name",
        "document_json.agent.model.context_window",
        "document_json.agent.tags",
        "document_json.messages[0].role",
        "document_json.messages[1].tool_calls[0].id",
        "document_json.messages[2].step",
        "document_json.messages[2].create_time",
        "document_json.blocks[0].label",
        "document_json.blocks[1]",
        "document_json.tools[0].name",
        "document_json.tools[1].name",
        "document_json.tools[1].source_code",
        "document_json.tools[1].timeout_seconds",
        "document_json.passages[0].text",
        "document_json.passages[0].tags",
    ]


def test_checks_across_items_name_the_item():
    assert fields_of(
        blocks=[{"label": "a"}, {"label": "a"}],
        tools=[{"name": "f", "source_code": "s"}, {"name": "f", "source_code": "s"}],
        messages=[{"role": "tool", "tool_call_id": "c1"}],
        context={"evicted_messages": 2},
    ) == [
        "document_json.messages[0].tool_call_id",
        "document_json.context.evicted_messages",
        "document_json.blocks[1].label",
        "document_json.tools[1].name",
    ]


def test_a_document_broken_everywhere_is_reported_once_not_per_item():
    fields = fields_of(messages=[{"role": "robot"}] * 1000)

    assert len(fields) == MAX_VIOLATIONS + 1
    assert fields[-1] == "document_json"


def test_a_rule_that_is_not_one_is_named():
    assert fields_of(agent={"name": "x", "tool_rules": [{"tool_name": "f", "kind": "sometimes"}]}) == [
        "document_json.agent.tool_rules[0]"
    ]


def test_an_eviction_count_that_splits_a_tool_call_from_its_result_is_named():
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "name": "t", "arguments": "{}"}]},
        {"role": "tool", "tool_call_id": "c1", "name": "t", "content": "ok"},
    ]
    assert fields_of(messages=messages, context={"evicted_messages": 2}) == [
        "document_json.context.evicted_messages"
    ]
