"""Continuous load for the fault test (issue 14): concurrent senders with idempotency keys, each
message a marker the fake LLM's ``effects`` program turns into a core-memory edit, an archival
insert and a custom tool call.

Every sender sends its agent one message at a time and retries a message with the same key, on the
other gateway, while the answer is a retryable code (a client behind a balancer over both
gateways); any other code is recorded as a failure and the sender goes on with its next message.
Every attempt is bounded by a deadline and every message by a budget, so the load always ends.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import httpx

from agentsuite.agent.v1 import agent_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from tests.e2e.e2e_client import create_agent, user

RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
)
"""What a client may retry with the same idempotency key; any other code is a failure."""
BLOCK = "notes"
BLOCK_LIMIT = 100_000
PROBE = "fault_probe"
PROBE_SOURCE = f'''
def {PROBE}(marker: str) -> str:
    """Note that a marker was seen.

    Args:
        marker: The marker of the user's message.
    """
    return "probed " + marker
'''
FAILURE_PAUSE_S = 0.5
"""A sender's pause after a message answered with a non-retryable code, before its next one."""
CHANNEL_OPTIONS = (
    # A gateway started again on its port is found within a second, not after minutes of backoff.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


@dataclass(frozen=True)
class LoadAgent:
    """An agent under load: its index (in the markers), id and model."""

    index: int
    id: str
    model: str


@dataclass(eq=False)
class Sent:
    """One user message: its marker text, its key, and what the client saw."""

    agent: LoadAgent
    sender: int
    number: int
    """Position in its sender's order, from 1."""
    scenario: str
    """The scenario running when it was first sent."""
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    first_sent: float = field(default_factory=time.monotonic)
    codes: list[str] = field(default_factory=list)
    """Status codes of the attempts that failed, in order."""
    failure: str = ""
    """The non-retryable answer that ended its attempts, if any."""
    reply: gateway_service_pb2.SendMessageResponse | None = None
    acked: float | None = None

    @property
    def text(self) -> str:
        """The message, and the marker of every effect of its run: fixed width, so no marker is a
        substring of another."""
        return f"a{self.agent.index:03d}s{self.sender:02d}n{self.number:05d}"


class Load:
    """The senders of every agent, sending until ``stop``; ``scenario`` labels what they send."""

    def __init__(
        self,
        gateways: list[grpc.aio.Channel],
        auth,
        *,
        attempt_timeout_s: float,
        message_budget_s: float,
    ):
        self._gateways = gateways
        self._auth = auth
        self._attempt_timeout_s = attempt_timeout_s
        self._message_budget_s = message_budget_s
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._senders: set[tuple[int, int]] = set()
        self.scenario = ""
        self.sent: list[Sent] = []
        self.codes: dict[str, Counter[str]] = {}
        """Failed attempts' status codes per scenario."""

    def start(self, agents: list[LoadAgent], senders_per_agent: int) -> None:
        for agent in agents:
            for sender in range(senders_per_agent):
                self._senders.add((agent.index, sender))
                self._tasks.append(asyncio.create_task(self._sender(agent, sender)))

    async def stop(self) -> None:
        """Let every sender finish the message it is on (bounded by its budget), then end."""
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    def acked_since(self, since: float) -> Callable[[], bool]:
        """A condition: every sender has an acknowledgement of a message first sent after ``since``."""

        def done() -> bool:
            acked = {(s.agent.index, s.sender) for s in self.sent if s.acked and s.first_sent >= since}
            return acked >= self._senders

        return done

    def acked_in_scenario(self, scenario: str, count: int) -> Callable[[], bool]:
        """A condition: every sender has ``count`` acknowledged messages of ``scenario``."""

        def done() -> bool:
            acked = Counter(
                (s.agent.index, s.sender) for s in self.sent if s.acked and s.scenario == scenario
            )
            return all(acked[sender] >= count for sender in self._senders)

        return done

    def in_flight(self) -> int:
        return sum(1 for s in self.sent if s.acked is None and not s.failure)

    async def _sender(self, agent: LoadAgent, sender: int) -> None:
        number = 0
        while not self._stopping.is_set():
            number += 1
            message = Sent(agent, sender, number, self.scenario)
            # Alternate the first gateway: every sender meets both, whichever one is down.
            await self.deliver(message, first_gateway=sender + number)
            if message.failure:
                # A client that was refused does not hammer the suite with new messages at once.
                await asyncio.sleep(FAILURE_PAUSE_S)

    async def deliver(
        self, message: Sent, *, first_gateway: int = 0, attempt_timeout_s: float | None = None
    ) -> None:
        """Send until acknowledged, a non-retryable code, or the message's budget is spent."""
        self.sent.append(message)
        request = gateway_service_pb2.SendMessageRequest(
            agent_id=message.agent.id, messages=[user(message.text)], idempotency_key=message.key
        )
        deadline = message.first_sent + self._message_budget_s
        for attempt in range(10_000):
            channel = self._gateways[(first_gateway + attempt) % len(self._gateways)]
            stub = gateway_service_pb2_grpc.ConversationServiceStub(channel)
            timeout = min(attempt_timeout_s or self._attempt_timeout_s, max(deadline - time.monotonic(), 0.1))
            try:
                message.reply = await stub.SendMessage(request, metadata=self._auth, timeout=timeout)
                message.acked = time.monotonic()
                return
            except grpc.aio.AioRpcError as error:
                code = error.code()
                message.codes.append(code.name)
                self.codes.setdefault(message.scenario, Counter())[code.name] += 1
                if code not in RETRYABLE:
                    message.failure = f"{code.name}: {error.details()}"
                    return
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))


async def create_probe_tool(channel: grpc.aio.Channel, auth) -> str:
    """Register the custom tool through ToolService; returns its id."""
    tools = tools_service_pb2_grpc.ToolServiceStub(channel)
    request = tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(source_code=PROBE_SOURCE))
    return (await tools.CreateTool(request, metadata=auth, timeout=30)).tool.id


async def create_load_agent(
    channel: grpc.aio.Channel, auth, index: int, model: str, tool_id: str
) -> LoadAgent:
    block = agent_pb2.BlockSpec(label=BLOCK, value="Markers seen:", limit=BLOCK_LIMIT)
    agent = await create_agent(
        channel, auth, model, blocks=(block,), tool_ids=[tool_id], name=f"load-{index}"
    )
    return LoadAgent(index, agent.id, model)


def set_program(
    llm_base_url: str,
    model: str,
    *,
    latency_ms: tuple[float, float],
    first_step_latency_ms: float | None = None,
) -> None:
    """Answer ``model`` with the fake LLM's ``effects`` program (see services/fake_llm/programs.py)."""
    program = {"model": model, "program": "effects", "label": BLOCK, "tool": PROBE, "latency_ms": latency_ms}
    if first_step_latency_ms is not None:
        program["first_step_latency_ms"] = first_step_latency_ms
    answer = httpx.post(f"{llm_base_url.removesuffix('/v1')}/_admin/program", json=program)
    answer.raise_for_status()


def llm_requests(llm_base_url: str, model: str) -> int:
    """Streamed chat requests the fake LLM has received for ``model``."""
    answer = httpx.get(f"{llm_base_url.removesuffix('/v1')}/_admin/requests", params={"model": model})
    return sum(1 for body in answer.json() if body.get("stream"))
