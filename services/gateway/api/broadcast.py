"""Broadcast fan-out: one message to many agents, each a SendMessage of its own, answered one result
per agent as each finishes, then a summary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from google.protobuf import duration_pb2

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from services.common.call import current_call, enter_call
from services.common.errors import AgentSuiteError, NotFound, ResourceExhausted
from services.common.protobuf import require_id
from services.gateway.api.replies import collect, fail
from services.gateway.clients.agent import AgentRuntimeClient
from services.gateway.core.runs import Runs, Submission

MAX_BROADCAST_TARGETS = 10_000
DEFAULT_BROADCAST_CONCURRENCY = 64
MAX_BROADCAST_CONCURRENCY = 1_000


class Broadcaster:
    def __init__(self, runs: Runs, agents: AgentRuntimeClient):
        self._runs = runs
        self._agents = agents

    async def fan_out(
        self, tenant: str, request: gateway_service_pb2.BroadcastRequest
    ) -> AsyncIterator[gateway_service_pb2.BroadcastResponse]:
        """Send ``request`` (already validated) to every agent it selects; yield each agent's result
        as it finishes, then the summary."""
        started = time.monotonic()
        concurrency = request.max_concurrency or DEFAULT_BROADCAST_CONCURRENCY
        targets, unknown = await self._targets(tenant, request.selector)
        semaphore = asyncio.Semaphore(min(concurrency, MAX_BROADCAST_CONCURRENCY))
        scope = current_call()

        async def one(agent_id: str) -> gateway_service_pb2.BroadcastResponse:
            enter_call(scope)
            result = gateway_pb2.BroadcastResult(agent_id=agent_id)
            if agent_id in unknown:
                fail(result, NotFound("agent", agent_id))
                return gateway_service_pb2.BroadcastResponse(result=result)
            async with semaphore:
                try:
                    submission = Submission(
                        agent_id=agent_id,
                        messages=request.messages,
                        idempotency_key=request.idempotency_key,
                        busy_policy=request.busy_policy,
                        deltas=False,
                    )
                    accepted = await self._runs.submit(tenant, submission)
                    response = gateway_service_pb2.SendMessageResponse()
                    await collect(self._runs.follow(accepted, heartbeats=False), response)
                    result.run.CopyFrom(response.run)
                    result.messages.extend(response.messages)
                except AgentSuiteError as exc:
                    fail(result, exc)
            return gateway_service_pb2.BroadcastResponse(result=result)

        tasks = [asyncio.create_task(one(agent_id)) for agent_id in targets]
        failed = 0
        try:
            for finished in asyncio.as_completed(tasks):
                response = await finished
                failed += response.result.error_code != 0
                yield response
        finally:
            for task in tasks:
                task.cancel()
        elapsed = duration_pb2.Duration()
        elapsed.FromNanoseconds(int((time.monotonic() - started) * 1e9))
        summary = gateway_pb2.BroadcastSummary(
            total=len(targets), succeeded=len(targets) - failed, failed=failed, elapsed=elapsed
        )
        yield gateway_service_pb2.BroadcastResponse(summary=summary)

    async def _targets(self, tenant: str, selector: gateway_pb2.AgentSelector) -> tuple[list[str], set[str]]:
        """The selected agents, ids first, each once (tags resolved through the agent service), and
        the listed ids the tenant has no agent for. Ids are checked 1,000 per call."""
        ids = list(
            dict.fromkeys(require_id(agent_id, "selector.agent_ids") for agent_id in selector.agent_ids)
        )
        if len(ids) > MAX_BROADCAST_TARGETS:
            raise ResourceExhausted(
                f"a broadcast reaches at most {MAX_BROADCAST_TARGETS} agents", reason="TOO_MANY_TARGETS"
            )
        found: set[str] = set()
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            page = await self._agents.list_agents(
                agent_service_pb2.ListAgentsRequest(page_size=1000, agent_ids=chunk)
            )
            found.update(agent.id for agent in page.agents)
        self._agents.remember(tenant, found)
        targets = dict.fromkeys(ids)
        if selector.tags:
            token = ""
            while True:
                page = await self._agents.list_agents(
                    agent_service_pb2.ListAgentsRequest(
                        page_size=1000, page_token=token, tags=selector.tags, tag_match=selector.tag_match
                    )
                )
                tagged = [agent.id for agent in page.agents]
                self._agents.remember(tenant, tagged)
                targets.update(dict.fromkeys(tagged))
                found.update(tagged)
                if len(targets) > MAX_BROADCAST_TARGETS or not page.next_page_token:
                    break
                token = page.next_page_token
        if len(targets) > MAX_BROADCAST_TARGETS:
            raise ResourceExhausted(
                f"a broadcast reaches at most {MAX_BROADCAST_TARGETS} agents", reason="TOO_MANY_TARGETS"
            )
        return list(targets), set(targets) - found
