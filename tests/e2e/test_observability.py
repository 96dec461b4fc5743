"""Traces and metrics as an operator receives them: the four services run as processes exporting by
OTLP/gRPC to a real receiver in this test (the collector's protocol), and serving Prometheus text.

Protects: one message is one connected trace through every service (SQL statements, the model call,
the tool execution included, no message text in it); each message of a conversation has a trace of
its own; the exported counters and histograms count each message once, and the Prometheus endpoint
says the same.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentsuite.agent.v1 import agent_pb2
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from services.cli.supervisor import Suite, SuitePorts
from services.common.call import TRACE_ID_KEY
from services.common.ports import free_port
from services.tools.store.sealing import generate_key
from tests.e2e.e2e_client import create_agent, user
from tests.e2e.otlp_receiver import OtlpReceiver, Received, ReceivedSpan

SERVICES = ("gateway", "agent", "memory", "tools")
CANARY = "canary-7f3e1d"
"""Text of a user message that must never appear in a span."""

ADD_SOURCE = '''
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b
'''


@dataclass
class ObservedSuite:
    suite: Suite
    received: Received
    llm: object
    auth: tuple
    metrics_ports: dict[str, int]

    async def wait_for(self, condition, timeout: float = 30.0, what: str = "telemetry"):
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.received.changed.clear()
            try:
                await asyncio.wait_for(self.received.changed.wait(), 0.5)
            except TimeoutError:
                pass

    async def next_metrics_export(self) -> None:
        """Return once every service exported metrics again."""
        seen = self.received.metric_exports
        await self.wait_for(lambda: self.received.metric_exports >= seen + len(SERVICES), what="exports")


@pytest.fixture(scope="module")
async def observed(database_url, fake_llm, tmp_path_factory) -> AsyncIterator[ObservedSuite]:
    async with OtlpReceiver() as receiver:
        metrics_ports = {service: free_port() for service in SERVICES}
        suite = Suite(
            database_url=database_url,
            ports=SuitePorts(gateway=free_port(), agent=free_port(), memory=free_port(), tools=free_port()),
            service_env={s: {"AGENTSUITE_METRICS_PORT": str(port)} for s, port in metrics_ports.items()},
            env={
                "AGENTSUITE_OPENAI_BASE_URL": fake_llm.base_url,
                "OPENAI_API_KEY": "sk-test-not-a-real-key",
                "AGENTSUITE_SECRETS_KEY": generate_key(),
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_TRACES_SAMPLER": "parentbased_always_on",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_METRIC_EXPORT_INTERVAL": "300",
            },
            log_dir=tmp_path_factory.mktemp("observed-logs"),
        )
        await suite.start()
        try:
            from tests.e2e.conftest import RunningSuite

            key = await RunningSuite(suite, fake_llm, database_url).new_key(f"t-{uuid.uuid4().hex[:12]}")
            yield ObservedSuite(
                suite, receiver.received, fake_llm, (("authorization", f"Bearer {key}"),), metrics_ports
            )
        finally:
            suite.stop()


@pytest.fixture
async def gateway(observed) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(observed.suite.gateway_address) as channel:
        yield channel


def call(name: str, arguments: dict, call_id: str) -> dict:
    return {"id": call_id, "name": name, "arguments": arguments}


def connected(spans: list[ReceivedSpan]) -> bool:
    """One root, and every other span's parent is in the trace."""
    ids = {span.span_id for span in spans}
    roots = [span for span in spans if not span.parent_span_id]
    return len(roots) == 1 and all(span.parent_span_id in ids for span in spans if span.parent_span_id)


async def test_one_message_is_one_trace_through_every_service(observed, gateway):
    tools = tools_service_pb2_grpc.ToolServiceStub(gateway)
    tool = (
        await tools.CreateTool(
            tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(source_code=ADD_SOURCE)),
            metadata=observed.auth,
        )
    ).tool
    model = f"traced-{uuid.uuid4().hex[:8]}"
    blocks = (agent_pb2.BlockSpec(label="human", value="Nothing known yet."),)
    agent = await create_agent(gateway, observed.auth, model, blocks=blocks, tool_ids=[tool.id])
    observed.llm.script(
        model,
        [
            {
                "tool_calls": [
                    call("add", {"a": 2, "b": 3}, "c1"),
                    call("core_memory_append", {"label": "human", "content": "Likes sums."}, "c2"),
                ]
            },
            {"content": "Five."},
        ],
    )
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)

    request = gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user(f"2+3? {CANARY}")])
    sent = conversation.SendMessage(request, metadata=observed.auth, timeout=60)
    response = await sent

    assert response.run.stop_reason == common_pb2.STOP_REASON_END_TURN
    trace_id = dict(await sent.trailing_metadata())[TRACE_ID_KEY]

    def complete():
        spans = observed.received.traces().get(trace_id, [])
        services = {span.service for span in spans}
        names = {span.name for span in spans}
        done = (
            services == {f"agentsuite-{s}" for s in SERVICES}
            and f"chat {model}" in names
            and "execute_tool add" in names
            and "execute_tool core_memory_append" in names
            and "agentsuite.tools.v1.ToolRuntime/Execute" in names
            and connected(spans)
        )
        return spans if done else None

    spans = await observed.wait_for(complete, what=f"a whole trace of {trace_id}")
    sql = [span for span in spans if span.attributes.get("db.system.name") == "postgresql"]
    assert {span.service for span in sql} >= {"agentsuite-gateway", "agentsuite-memory", "agentsuite-tools"}
    assert all(span.name == span.attributes["db.operation.name"] for span in sql)
    (model_call, *_) = [span for span in spans if span.name == f"chat {model}"]
    assert model_call.attributes["gen_ai.request.model"] == model
    assert model_call.attributes["gen_ai.usage.input_tokens"] > 0
    assert model_call.attributes["gen_ai.usage.output_tokens"] > 0
    (run,) = [span for span in spans if span.name == "agentsuite.run"]
    assert run.attributes["agentsuite.run.status"] == "completed"
    every_value = repr([(span.name, span.attributes) for span in spans])
    assert CANARY not in every_value and "Likes sums." not in every_value


async def test_each_message_of_a_conversation_has_a_trace_of_its_own(observed, gateway):
    model = f"talk-{uuid.uuid4().hex[:8]}"
    agent = await create_agent(gateway, observed.auth, model)
    observed.llm.script(
        model, [{"content": "one"}, {"content": "two"}, {"content": "three"}, {"content": "four"}]
    )
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)
    run_ids = []

    stream = conversation.Converse(metadata=observed.auth, timeout=60)
    await stream.write(
        gateway_service_pb2.ConverseRequest(open=gateway_service_pb2.ConverseOpen(agent_id=agent.id))
    )
    for text in ("first", "second"):
        await stream.write(
            gateway_service_pb2.ConverseRequest(send=gateway_service_pb2.ConverseSend(messages=[user(text)]))
        )
        while (response := await stream.read()).event.WhichOneof("event") != "finished":
            pass
        run_ids.append(response.event.run_id)
    await stream.done_writing()
    for text in ("third", "fourth"):  # the same lane, still alive between the two
        request = gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user(text)])
        run_ids.append((await conversation.SendMessage(request, metadata=observed.auth, timeout=60)).run.id)

    def runs_traced():
        traces = {}
        for trace_id, spans in observed.received.traces().items():
            for span in spans:
                if span.name == "agentsuite.run" and span.attributes["agentsuite.run.id"] in run_ids:
                    steps = [s for s in spans if s.name == "agentsuite.agent.v1.AgentRuntime/Step"]
                    if steps and any(s.service == "agentsuite-agent" for s in steps):
                        traces[span.attributes["agentsuite.run.id"]] = trace_id
        return traces if len(traces) == len(run_ids) else None

    traces = await observed.wait_for(runs_traced, what="the runs' traces")
    assert len(set(traces.values())) == len(run_ids)


def _sum(points: dict) -> float:
    return sum(getattr(p, "as_int", 0) or getattr(p, "as_double", 0.0) for p in points.values())


def _count(points: dict, **attributes) -> int:
    wanted = set(attributes.items())
    return sum(p.count for key, p in points.items() if wanted <= set(key))


def _readings(received: Received) -> dict[str, float]:
    gateway, agent, memory = "agentsuite-gateway", "agentsuite-agent", "agentsuite-memory"
    return {
        "runs accepted": _sum(received.metric(gateway, "agentsuite.runs.accepted")),
        "runs finished": _sum(received.metric(gateway, "agentsuite.runs.finished")),
        "run durations": _count(received.metric(gateway, "agentsuite.run.duration")),
        "queue waits": _count(received.metric(gateway, "agentsuite.run.queue_wait")),
        "SendMessage calls": _count(
            received.metric(gateway, "rpc.server.duration"), **{"rpc.method": "SendMessage"}
        ),
        "model calls": _count(received.metric(agent, "agentsuite.llm.duration"), outcome="ok"),
        "messages appended": _sum(received.metric(memory, "agentsuite.messages.appended")),
    }


PROMETHEUS_NAMES = {
    "runs accepted": ("gateway", "agentsuite_runs_accepted_total", {}),
    "runs finished": ("gateway", "agentsuite_runs_finished_total", {}),
    "run durations": ("gateway", "agentsuite_run_duration_seconds_count", {}),
    "queue waits": ("gateway", "agentsuite_run_queue_wait_seconds_count", {}),
    "SendMessage calls": ("gateway", "rpc_server_duration_seconds_count", {"rpc_method": "SendMessage"}),
    "model calls": ("agent", "agentsuite_llm_duration_seconds_count", {"outcome": "ok"}),
    "messages appended": ("memory", "agentsuite_messages_appended_total", {}),
}


def _scraped(ports: dict[str, int]) -> dict[str, float]:
    samples = {}
    for service in {service for service, _, _ in PROMETHEUS_NAMES.values()}:
        text = httpx.get(f"http://127.0.0.1:{ports[service]}/metrics").text
        samples[service] = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]
    readings = {}
    for reading, (service, name, labels) in PROMETHEUS_NAMES.items():
        readings[reading] = sum(
            sample.value
            for sample in samples[service]
            if sample.name == name and labels.items() <= sample.labels.items()
        )
    return readings


async def test_after_n_messages_the_counters_say_n_here_and_on_prometheus(observed, gateway):
    model = f"counted-{uuid.uuid4().hex[:8]}"
    agent = await create_agent(gateway, observed.auth, model)
    messages = 5
    observed.llm.script(model, [{"content": f"reply {index}"} for index in range(messages)])
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)
    await observed.next_metrics_export()
    await asyncio.sleep(1.0)  # the earlier tests' runs are over and exported
    await observed.next_metrics_export()
    before = _readings(observed.received)

    for index in range(messages):
        request = gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user(f"m{index}")])
        await conversation.SendMessage(request, metadata=observed.auth, timeout=60)
    await asyncio.sleep(0.5)
    scraped = await asyncio.to_thread(_scraped, observed.metrics_ports)
    await observed.next_metrics_export()
    after = _readings(observed.received)

    grown = {name: after[name] - before[name] for name in after}
    assert grown == {
        "runs accepted": messages,
        "runs finished": messages,
        "run durations": messages,
        "queue waits": messages,
        "SendMessage calls": messages,
        "model calls": messages,
        "messages appended": 2 * messages,  # each message and its reply
    }
    assert scraped == after
    async with httpx.AsyncClient() as client:
        gateway_text = (
            await client.get(f"http://127.0.0.1:{observed.metrics_ports['gateway']}/metrics")
        ).text
    assert "agentsuite_lanes_active" in gateway_text and "db_client_connections_usage" in gateway_text


async def test_top_shows_traffic_latency_and_the_model_from_the_metrics(observed, gateway):
    endpoints = [
        arg for port in observed.metrics_ports.values() for arg in ("--metrics", f"127.0.0.1:{port}")
    ]
    command = [sys.executable, "-m", "services.cli.main", "top", "--once", *endpoints]

    shown = await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "160"},
    )

    assert shown.returncode == 0, shown.stderr
    for expected in (
        "messages/s",
        "gateway",
        "SendMessage",
        "agent",
        "Step",
        "memory",
        "tools",
        "model counted-",
    ):
        assert expected in shown.stdout


def test_top_says_when_no_service_answers():
    command = [
        sys.executable,
        "-m",
        "services.cli.main",
        "top",
        "--once",
        "--metrics",
        f"127.0.0.1:{free_port()}",
    ]

    shown = subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert shown.returncode == 1
    assert "no service answered" in shown.stdout
