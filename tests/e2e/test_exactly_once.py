"""Exactly-once effects under faults (issue 14, DESIGN §4): a gateway frozen past its lease while
its step runs tools leaves the step to another replica, and the step's effects — a core-memory
edit, a custom tool execution — happen once; the frozen holder's epoch writes nothing after the
takeover began; readers are told each stored message once."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import grpc

from agentsuite.agent.v1 import agent_pb2
from agentsuite.gateway.v1 import gateway_pb2
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from tests.e2e.e2e_client import create_agent
from tests.e2e.run_checks import create_run, finished, history, model_name, wait_for_run, watch

SHORT_LEASE = {"AGENTSUITE_LEASE_TTL_SECONDS": "1"}
SLOW_NOTE_SOURCE = '''
def slow_note(text: str) -> str:
    """Take a note, slowly.

    Args:
        text: What to note.
    """
    import time

    time.sleep(4)
    return "noted: " + text
'''


def call(name: str, arguments: dict, call_id: str) -> dict:
    return {"id": call_id, "name": name, "arguments": arguments}


async def wait_for_stored_calls(channel, auth, agent_id: str, *, within: float = 10.0) -> None:
    """Until the step's reply with its tool calls is in memory (stored before any call runs)."""
    deadline = time.monotonic() + within
    while not any(m.tool_calls for m in await history(channel, auth, agent_id)):
        assert time.monotonic() < deadline, "the step's calls were never stored"
        await asyncio.sleep(0.02)


async def test_a_step_whose_gateway_froze_past_its_lease_applies_its_effects_once(
    running_suite, replicas, gateway, tenant
):
    frozen, _taker = await replicas.start_many(2, env=SHORT_LEASE)
    tools = tools_service_pb2_grpc.ToolServiceStub(gateway)
    tool = (
        await tools.CreateTool(
            tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(source_code=SLOW_NOTE_SOURCE)),
            metadata=tenant,
        )
    ).tool
    model = model_name()
    agent = await create_agent(
        gateway,
        tenant,
        model,
        tool_ids=[tool.id],
        blocks=(agent_pb2.BlockSpec(label="human", value="Name: Ann."),),
    )
    running_suite.llm.script(
        model,
        [
            {
                "tool_calls": [
                    call("core_memory_append", {"label": "human", "content": "Likes tea."}, "call_1"),
                    call("slow_note", {"text": "tea"}, "call_2"),
                ]
            },
            {"content": "Noted."},
        ],
    )
    async with grpc.aio.insecure_channel(frozen.address) as channel:
        run = await create_run(channel, tenant, agent.id, "I like tea.")
    # The frozen gateway's step has stored its calls and is carrying them out (the note takes 4 s).
    await wait_for_stored_calls(gateway, tenant, agent.id)
    frozen.pause()
    try:
        done = await wait_for_run(gateway, tenant, run.id, finished, within=30)
    finally:
        frozen.resume()

    assert done.status == gateway_pb2.RUN_STATUS_COMPLETED, done.stop_detail
    assert len(running_suite.llm.requests(model)) == 2, (
        "the stored calls were carried out, not asked for again"
    )
    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    blocks = await memory.ListBlocks(memory_service_pb2.ListBlocksRequest(agent_id=agent.id), metadata=tenant)
    (human,) = [b for b in blocks.blocks if b.label == "human"]
    assert human.value.count("Likes tea.") == 1, "the core-memory edit was applied once"
    stored = await history(gateway, tenant, agent.id)
    assert [(m.role, m.tool_call_id) for m in stored][2:] == [
        (stored[2].role, "call_1"),
        (stored[3].role, "call_2"),
        (stored[4].role, ""),
    ], "one result per call, then the answer"
    assert stored[3].content == "noted: tea"

    events = await watch(gateway, tenant, run.id)
    told = [
        getattr(e, k).id
        for e in events
        if (k := e.WhichOneof("event")) in ("assistant_message", "message_persisted")
    ]
    assert sorted(told) == sorted(m.id for m in stored), "every stored message told exactly once"
    calls_told = [e.tool_call.id for e in events if e.HasField("tool_call")]
    assert sorted(calls_told) == ["call_1", "call_2"]
    takeover = [e for e in events if e.HasField("started")][-1]
    assert any(e.HasField("retried") for e in events), "readers were told to drop the frozen try's deltas"

    connection = await asyncpg.connect(running_suite.database_url)
    try:
        executions = await connection.fetch(
            "SELECT attempts, result IS NOT NULL AS finished FROM tools.executions WHERE idempotency_key LIKE $1",
            f"{run.id}:%",
        )
        stale = await connection.fetch(
            "SELECT seq, epoch, created_at FROM memory.messages WHERE agent_id = $1 AND epoch < $2 "
            "AND created_at > $3",
            agent.id,
            takeover.started.epoch,
            takeover.time.ToDatetime().astimezone(),
        )
    finally:
        await connection.close()
    assert [tuple(r) for r in executions] == [(1, True)], "the custom tool executed once"
    assert stale == [], "nothing was stored under the frozen holder's epoch after the takeover"
