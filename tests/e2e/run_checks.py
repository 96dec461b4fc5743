"""What the gateway run tests read back and check: an agent's persisted history (memory, through the
gateway), its runs (ListRuns, oldest first), and the lane invariant between the two — one run at a
time, in acceptance order, none lost, none repeated."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from tests.e2e.e2e_client import user

CALL_TIMEOUT_S = 20.0
USER = common_pb2.MESSAGE_ROLE_USER
ASSISTANT = common_pb2.MESSAGE_ROLE_ASSISTANT
TERMINAL = (
    gateway_pb2.RUN_STATUS_COMPLETED,
    gateway_pb2.RUN_STATUS_FAILED,
    gateway_pb2.RUN_STATUS_CANCELLED,
    gateway_pb2.RUN_STATUS_AWAITING_APPROVAL,
)


def model_name() -> str:
    """A model of its own, so the fake LLM's script and records belong to one test."""
    return f"runs-{uuid.uuid4().hex[:10]}"


def echo(text: str) -> str:
    """The fake LLM's unscripted reply to ``text``."""
    return f"echo: {text}"


def conversation(channel: grpc.aio.Channel) -> gateway_service_pb2_grpc.ConversationServiceStub:
    return gateway_service_pb2_grpc.ConversationServiceStub(channel)


async def send(channel, auth, agent_id: str, text: str, **fields) -> gateway_service_pb2.SendMessageResponse:
    request = gateway_service_pb2.SendMessageRequest(agent_id=agent_id, messages=[user(text)], **fields)
    return await conversation(channel).SendMessage(request, metadata=auth, timeout=CALL_TIMEOUT_S)


async def create_run(channel, auth, agent_id: str, text: str, **fields) -> gateway_pb2.Run:
    request = gateway_service_pb2.CreateRunRequest(agent_id=agent_id, messages=[user(text)], **fields)
    return (await conversation(channel).CreateRun(request, metadata=auth, timeout=CALL_TIMEOUT_S)).run


async def get_run(channel, auth, run_id: str) -> gateway_pb2.Run:
    request = gateway_service_pb2.GetRunRequest(run_id=run_id)
    return (await conversation(channel).GetRun(request, metadata=auth, timeout=CALL_TIMEOUT_S)).run


async def wait_for_run(
    channel, auth, run_id: str, done: Callable[[gateway_pb2.Run], bool], *, within: float = 10.0
) -> gateway_pb2.Run:
    """Poll GetRun until ``done(run)``; fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        run = await get_run(channel, auth, run_id)
        if done(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {gateway_pb2.RunStatus.Name(run.status)}"
        await asyncio.sleep(0.05)


def finished(run: gateway_pb2.Run) -> bool:
    return run.status in TERMINAL


async def wait_for_llm_requests(llm, model: str, count: int, *, within: float = 10.0) -> list[dict]:
    """The fake LLM's streamed requests for ``model`` once there are ``count`` (a step is calling it)."""
    deadline = time.monotonic() + within
    while True:
        requests = [r for r in llm.requests(model) if r.get("stream")]
        if len(requests) >= count:
            return requests
        assert time.monotonic() < deadline, f"{len(requests)} LLM requests for {model}, waited for {count}"
        await asyncio.sleep(0.02)


async def history(channel, auth, agent_id: str) -> list[common_pb2.Message]:
    """The agent's whole persisted history, oldest first."""
    memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
    messages: list[common_pb2.Message] = []
    token = ""
    for _ in range(50):
        page = await memory.ListMessages(
            memory_service_pb2.ListMessagesRequest(agent_id=agent_id, page_size=1000, page_token=token),
            metadata=auth,
            timeout=CALL_TIMEOUT_S,
        )
        messages.extend(page.messages)
        token = page.next_page_token
        if not token:
            return messages
    raise AssertionError("the history's pages never ended")


async def runs_oldest_first(channel, auth, agent_id: str, *, page_size: int = 100) -> list[gateway_pb2.Run]:
    """Every run of the agent in acceptance order (ListRuns pages are newest first)."""
    runs: list[gateway_pb2.Run] = []
    token = ""
    for _ in range(100):
        page = await conversation(channel).ListRuns(
            gateway_service_pb2.ListRunsRequest(agent_id=agent_id, page_size=page_size, page_token=token),
            metadata=auth,
            timeout=CALL_TIMEOUT_S,
        )
        runs.extend(page.runs)
        token = page.next_page_token
        if not token:
            return runs[::-1]
    raise AssertionError("ListRuns pages never ended")


def blocks_by_run(messages: Iterable[common_pb2.Message]) -> list[tuple[str, list[common_pb2.Message]]]:
    """Consecutive messages grouped by the run that persisted them."""
    blocks: list[tuple[str, list[common_pb2.Message]]] = []
    for message in messages:
        if blocks and blocks[-1][0] == message.run_id:
            blocks[-1][1].append(message)
        else:
            blocks.append((message.run_id, [message]))
    return blocks


def assert_one_run_at_a_time_in_order(
    messages: list[common_pb2.Message],
    runs: list[gateway_pb2.Run],
    reply: Callable[[str], str] | None = echo,
) -> None:
    """The lane invariant on persisted state: the history is one block per run — its input, then its
    own reply — the blocks in the order the runs were accepted, none missing, none twice."""
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1)), "history seqs have gaps"
    blocks = blocks_by_run(messages)
    assert [run_id for run_id, _ in blocks] == [run.id for run in runs], (
        "each run's messages form one block, in acceptance order (a run id twice means interleaving)"
    )
    for (_, block), run in zip(blocks, runs, strict=True):
        inputs = [message.content for message in run.input]
        assert [m.content for m in block[: len(inputs)]] == inputs
        assert block[0].role == USER and block[-1].role == ASSISTANT
        if reply is not None:
            assert [m.content for m in block] == [*inputs, reply(inputs[-1])]


def assert_each_prompt_saw_every_earlier_run(requests: list[dict], runs: list[gateway_pb2.Run]) -> None:
    """Run k's prompt holds runs 1..k-1's inputs and replies: no run started before the one ahead of
    it had stored its reply (what concurrent execution of one agent would break)."""
    assert len(requests) == len(runs)
    for index, request in enumerate(requests):
        said = [m["content"] for m in request["messages"] if m["role"] == "user"]
        answered = [m["content"] for m in request["messages"] if m["role"] == "assistant"]
        inputs = [earlier.input[-1].content for earlier in runs[: index + 1]]
        assert said == inputs, f"prompt {index} saw other user messages"
        assert answered == [echo(text) for text in inputs[:-1]], f"prompt {index} missed earlier replies"


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo detail of a failed call (empty when it has none)."""
    info = error_details_pb2.ErrorInfo()
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        if detail.Unpack(info):
            return info
    return info


def step_level(events: Iterable[gateway_pb2.RunEvent]) -> list[gateway_pb2.RunEvent]:
    """The stored (replayable) events among streamed ones: all but deltas and heartbeats."""
    live_only = {"reasoning_delta", "assistant_delta", "heartbeat"}
    return [event for event in events if event.WhichOneof("event") not in live_only]


def kinds(events: Iterable[gateway_pb2.RunEvent]) -> list[str]:
    return [event.WhichOneof("event") for event in events]


async def watch(channel, auth, run_id: str, after_seq: int = 0) -> list[gateway_pb2.RunEvent]:
    """WatchRun to the run's finished event."""
    request = gateway_service_pb2.WatchRunRequest(run_id=run_id, after_seq=after_seq)
    call = conversation(channel).WatchRun(request, metadata=auth, timeout=CALL_TIMEOUT_S)
    return [response.event async for response in call]
