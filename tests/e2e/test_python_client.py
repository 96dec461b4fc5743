"""``agentsuite.client`` against the real suite: every namespace's methods through the real gateway,
typed events, resume, and errors raised as the client's exception hierarchy with their details."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from agentsuite.client import (
    Busy,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    OutOfRange,
    Unauthenticated,
    connect,
    connect_sync,
    events,
    types,
)


def model_name() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


def fake_model(model: str) -> types.ModelConfig:
    return types.ModelConfig(provider="openai", model=model)


@pytest.fixture
async def client(running_suite):
    key = await running_suite.new_key(f"pyclient-{uuid.uuid4().hex[:8]}")
    async with connect(running_suite.address, api_key=key) as client:
        yield client


def slow_reply(text: str) -> dict:
    """A reply streamed a few characters every 50 ms, so its run lasts long enough to act on."""
    return {"content": text, "chunk_size": 3, "chunk_delay_ms": 50}


async def test_agents_create_get_list_update_export_import_delete(client):
    agent = await client.agents.create(
        "ann",
        system_prompt="You are terse.",
        tags=["client", "e2e"],
        metadata={"team": "blue"},
        blocks=[types.BlockSpec(label="human", value="Name: Ana")],
    )
    assert (await client.agents.get(agent.id)).name == "ann"

    await client.agents.create("bob", tags=["client"])
    names = [a.name async for a in client.agents.list(tags=["client"], page_size=1)]
    assert names == ["ann", "bob"]  # two pages of one, read through
    assert [a.name async for a in client.agents.list(tags=["client", "e2e"], tag_match="all")] == ["ann"]

    updated = await client.agents.update(agent.id, description="the first", tags=["renamed"])
    assert (updated.description, list(updated.tags), updated.name) == ("the first", ["renamed"], "ann")

    document = await client.agents.export(agent.id, messages=True)
    copy = await client.agents.import_(document, name="ann-copy")
    assert copy.id != agent.id and copy.name == "ann-copy"

    await client.agents.delete(agent.id)
    with pytest.raises(NotFound) as missing:
        await client.agents.get(agent.id)
    assert missing.value.resource_name == agent.id and missing.value.reason == "NOT_FOUND"


async def test_a_bad_request_raises_invalid_argument_with_its_field_violations(client):
    with pytest.raises(InvalidArgument) as bad:
        await client.agents.create("")

    assert [v.field for v in bad.value.field_violations] == ["agent.name"]
    assert bad.value.code.name == "INVALID_ARGUMENT"


async def test_an_unknown_key_raises_unauthenticated(running_suite):
    async with connect(running_suite.address, api_key="ags_not-a-key") as client:
        with pytest.raises(Unauthenticated) as refused:
            await client.agents.get(str(uuid.uuid4()))
    assert refused.value.reason == "MALFORMED_API_KEY" or refused.value.reason == "INVALID_API_KEY"


async def test_send_waits_for_the_reply_and_stream_yields_typed_events(client, running_suite):
    model = model_name()
    agent = await client.agents.create("chat", model=fake_model(model))
    running_suite.llm.script(model, [{"content": "Hello there."}, {"content": "Streamed reply."}])

    reply = await client.messages.send(agent.id, "hi")
    assert reply.text == "Hello there."
    assert reply.run.status == types.RunStatus.Value("RUN_STATUS_COMPLETED")

    seen = [event async for event in client.messages.stream(agent.id, "again")]
    kinds = [type(event) for event in seen]
    assert kinds[0] is events.RunQueued and kinds[-1] is events.RunFinished
    assert "".join(e.text for e in seen if isinstance(e, events.AssistantDelta)) == "Streamed reply."
    assert [e.message.content for e in seen if isinstance(e, events.AssistantMessage)] == ["Streamed reply."]
    step_level = [e.seq for e in seen if e.step_level]
    assert step_level == list(range(1, len(step_level) + 1))

    history = [m.content async for m in client.messages.list(agent.id)]
    assert history == ["hi", "Hello there.", "again", "Streamed reply."]
    assert await client.messages.count(agent.id, roles=["assistant"]) == 2
    (found,) = await client.messages.search(agent.id, "streamed")
    assert found.message.content == "Streamed reply."


async def test_watch_from_a_seq_resumes_a_dropped_stream_without_gap_or_duplicate(client, running_suite):
    model = model_name()
    agent = await client.agents.create("resumed", model=fake_model(model))
    running_suite.llm.script(model, [slow_reply("a reply long enough to be cut in the middle")])

    first_part = []
    async for event in client.messages.stream(agent.id, "go"):
        first_part.append(event)
        if isinstance(event, events.RunStarted):
            break  # the stream drops here
    run_id, last_seq = first_part[-1].run_id, first_part[-1].seq

    rest = [event async for event in client.runs.watch(run_id, after_seq=last_seq)]
    everything = [event async for event in client.runs.watch(run_id)]

    assert [e.seq for e in first_part + rest if e.step_level] == [e.seq for e in everything]
    assert isinstance(rest[-1], events.RunFinished)
    with pytest.raises(OutOfRange):
        async for _ in client.runs.watch(run_id, after_seq=rest[-1].seq + 5):
            pass


async def test_runs_create_get_list_wait_and_cancel(client, running_suite):
    model = model_name()
    agent = await client.agents.create("background", model=fake_model(model))
    running_suite.llm.script(model, [{"content": "done"}, slow_reply("x" * 300)])

    run = await client.runs.create(agent.id, "first")
    finished = await client.runs.wait(run.id)
    assert finished.status == types.RunStatus.Value("RUN_STATUS_COMPLETED")
    assert (await client.runs.get(run.id)).id == run.id

    slow = await client.runs.create(agent.id, "second")
    cancelled = await client.runs.cancel(slow.id)
    await client.runs.wait(slow.id)
    assert (await client.runs.get(slow.id)).stop_reason == types.StopReason.Value("STOP_REASON_CANCELLED")
    assert cancelled.id == slow.id
    listed = [r.id async for r in client.runs.list(agent_id=agent.id)]
    assert listed == [slow.id, run.id]  # newest first


async def test_a_busy_agent_refuses_with_busy_naming_the_running_run(client, running_suite):
    model = model_name()
    agent = await client.agents.create("busy", model=fake_model(model))
    running_suite.llm.script(model, [slow_reply("y" * 120)])
    running = await client.runs.create(agent.id, "long")

    with pytest.raises(Busy) as busy:
        await client.messages.send(agent.id, "now", busy_policy="reject")

    assert busy.value.run_id == running.id and busy.value.reason == "AGENT_BUSY"
    await client.runs.wait(running.id)


async def test_converse_turns_yield_the_events_of_their_own_send(client, running_suite):
    model = model_name()
    agent = await client.agents.create("conversing", model=fake_model(model))
    running_suite.llm.script(model, [{"content": "one"}, {"content": "two"}])

    async with client.converse(agent.id, timeout=30) as conversation:
        first = [event async for event in conversation.turn("1")]
        second = [event async for event in conversation.turn("2")]

    for turn, text in ((first, "one"), (second, "two")):
        assert isinstance(turn[-1], events.RunFinished)
        assert len({e.send_id for e in turn}) == 1 and turn[0].send_id
        assert [e.text for e in turn if isinstance(e, events.AssistantMessage)] == [text]


async def test_blocks_create_edit_update_history_restore_attach(client):
    agent = await client.agents.create("memory")
    block = await client.blocks.create("notes", "first", limit=200, agent_id=agent.id)

    edited = await client.blocks.edit(
        types.BlockEdit(append=types.AppendEdit(text="second")), block_id=block.id
    )
    assert edited.value == "first\nsecond"
    updated = await client.blocks.update(block.id, value="third", expected_version=edited.version)
    assert updated.value == "third"
    versions = [entry.version async for entry in client.blocks.history(block.id)]
    assert len(versions) >= 2
    restored = await client.blocks.restore(block.id, edited.version)
    assert restored.value == "first\nsecond"

    other = await client.agents.create("other")
    await client.blocks.attach(block.id, other.id)
    assert "notes" in [b.label async for b in client.blocks.list(agent_id=other.id)]
    await client.blocks.detach(block.id, other.id)
    await client.blocks.delete(block.id)
    with pytest.raises(NotFound):
        await client.blocks.get(block.id)


async def test_archives_and_passages_insert_list_search_delete(client):
    archive = await client.archives.create("facts")
    ids = await client.passages.insert(
        archive.id, ["the lighthouse is red", "the harbour is quiet"], tags=["coast"]
    )
    assert len(ids) == 2
    assert sorted([p.text async for p in client.passages.list(archive.id, tags=["coast"])]) == [
        "the harbour is quiet",
        "the lighthouse is red",
    ]
    best = await client.passages.search("lighthouse", archive_id=archive.id, mode="full_text", limit=1)
    assert best[0].passage.text == "the lighthouse is red"
    await client.passages.delete(ids[0])
    assert [a.id async for a in client.archives.list() if a.id == archive.id] == [archive.id]
    await client.archives.delete(archive.id)
    with pytest.raises(NotFound):
        await client.archives.get(archive.id)


SECRET_TOOL = '''
import os

def read_token(prefix: str) -> str:
    """Return the prefix and the token's length.

    Args:
        prefix: text put first.
    """
    return f"{prefix}:{len(os.environ['SERVICE_TOKEN'])}"
'''


async def test_tools_and_secrets(client):
    tool = await client.tools.create(
        SECRET_TOOL, secret_names=["SERVICE_TOKEN"], timeout_limit=timedelta(seconds=10)
    )
    assert tool.name == "read_token"
    await client.secrets.set("SERVICE_TOKEN", "s3cret-value")
    assert [s.name for s in await client.secrets.list()] == ["SERVICE_TOKEN"]

    result = await client.tools.run(tool.id, arguments={"prefix": "len"})
    assert result.result_json == '"len:12"', result

    renamed = await client.tools.update(tool.id, description="Measures the token.")
    assert renamed.description == "Measures the token."
    assert [t.id async for t in client.tools.list(name="read_token")] == [tool.id]
    await client.secrets.delete("SERVICE_TOKEN")
    await client.tools.delete(tool.id)
    with pytest.raises(NotFound):
        await client.tools.get(tool.id)


async def test_the_sync_client_offers_the_same_methods_blocking(running_suite):
    key = await running_suite.new_key(f"pyclient-sync-{uuid.uuid4().hex[:8]}")

    def use() -> tuple[str, list[str], list[type]]:
        with connect_sync(running_suite.address, api_key=key) as client:
            agent = client.agents.create("sync")
            names = [a.name for a in client.agents.list()]
            with client.converse(agent.id, timeout=30) as conversation:
                kinds = [type(event) for event in conversation.turn("hello")]
            return client.messages.send(agent.id, "hi").text, names, kinds

    text, names, kinds = await asyncio.to_thread(use)

    assert "hi" in text and names == ["sync"]
    assert kinds[-1] is events.RunFinished


async def test_a_refused_send_in_a_conversation_is_a_run_error_with_its_send_id(client, running_suite):
    model = model_name()
    agent = await client.agents.create("refusing", model=fake_model(model))
    running_suite.llm.script(model, [slow_reply("z" * 120)])

    async with client.converse(agent.id, timeout=30) as conversation:
        long_send = await conversation.send("long")
        async for event in conversation:
            if isinstance(event, events.RunStarted):
                break
        refused = [event async for event in conversation.turn("now", busy_policy="reject")]
        async for event in conversation:
            if isinstance(event, events.RunFinished) and event.send_id == long_send:
                break

    (error,) = refused
    assert isinstance(error, events.RunError) and error.send_id != long_send
    assert isinstance(error.error, Busy) and error.error.run_id == event.run_id


async def test_a_send_past_its_deadline_names_the_run_to_wait_for(client, running_suite):
    model = model_name()
    agent = await client.agents.create("slow", model=fake_model(model))
    running_suite.llm.script(model, [slow_reply("w" * 90)])

    with pytest.raises(DeadlineExceeded) as late:
        await client.messages.send(agent.id, "take your time", timeout=0.5)

    assert late.value.reason == "RUN_NOT_FINISHED"
    finished = await client.runs.wait(late.value.run_id)
    assert finished.status == types.RunStatus.Value("RUN_STATUS_COMPLETED")


APPROVED_TOOL = '''
def open_gate(gate: str) -> str:
    """Open a harbour gate.

    Args:
        gate: which gate.
    """
    return f"gate {gate} is open"
'''


async def test_a_tool_call_waits_for_approval_then_runs_once_approved(client, running_suite):
    model = model_name()
    tool = await client.tools.create(APPROVED_TOOL, requires_approval=True)
    agent = await client.agents.create("gatekeeper", model=fake_model(model), tool_ids=[tool.id])
    gate = {"tool_calls": [{"id": "call_1", "name": "open_gate", "arguments": {"gate": "north"}}]}
    running_suite.llm.script(
        model, [gate, {"content": "North is open."}, gate, {"content": "Denied."}, gate, {"content": "Open."}]
    )

    waiting = await client.messages.send(agent.id, "open the north gate")
    assert waiting.run.status == types.RunStatus.Value("RUN_STATUS_AWAITING_APPROVAL")
    (pending,) = waiting.run.pending_approvals
    approved = await client.runs.approve(agent.id, {pending.id: True})
    assert approved.run.id == waiting.run.id and approved.text == "North is open."

    async with client.converse(agent.id, timeout=30) as conversation:
        asked = [event async for event in conversation.turn("open it again")]
        (request,) = [e for e in asked if isinstance(e, events.ApprovalRequested)]
        denial = await conversation.approve(asked[-1].run_id, {request.call.id: False}, reason="closed today")
        decided = [event async for event in conversation.events_of(denial)]

    returned = next(e for e in decided if isinstance(e, events.ToolReturned))
    assert returned.result.status == types.ToolReturnStatus.Value("TOOL_RETURN_STATUS_DENIED")
    assert isinstance(decided[-1], events.RunFinished) and decided[-1].run.id == asked[-1].run_id

    third = await client.messages.send(agent.id, "and once more")
    (pending,) = third.run.pending_approvals
    streamed = [event async for event in client.runs.approve_stream(agent.id, {pending.id: True})]
    assert [e.result.content for e in streamed if isinstance(e, events.ToolReturned)] == [
        "gate north is open"
    ]
    assert isinstance(streamed[-1], events.RunFinished) and streamed[-1].run.id == third.run.id


async def test_broadcast_yields_one_result_per_agent_then_the_summary(client):
    first = await client.agents.create("fleet-1", tags=["fleet"])
    second = await client.agents.create("fleet-2", tags=["fleet"])
    missing = str(uuid.uuid4())

    streamed = [
        item async for item in client.messages.broadcast("roll call", tags=["fleet"], agent_ids=[missing])
    ]

    *results, summary = streamed
    assert isinstance(summary, types.BroadcastSummary)
    assert (summary.total, summary.succeeded, summary.failed) == (3, 2, 1)
    by_agent = {result.agent_id: result for result in results}
    assert (
        by_agent[first.id].run.status
        == by_agent[second.id].run.status
        == types.RunStatus.Value("RUN_STATUS_COMPLETED")
    )
    assert by_agent[missing].error_code == 5  # NOT_FOUND
