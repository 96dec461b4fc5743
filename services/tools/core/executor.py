"""Executing a tool call: validate the arguments, resolve the granted secrets, wait for a slot,
and run the call in a fresh sandbox under the tool's limits."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Protocol

from services.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument, ResourceExhausted
from services.tools.core.execution import Claim, ExecutionResult, Job, Limits
from services.tools.core.schema import derive_schema
from services.tools.core.tools import Tool
from services.tools.core.validation import function_schema, parse_arguments

# Answer with a TIMEOUT result a little before the caller's deadline, rather than being cut off.
DEADLINE_MARGIN_SECONDS = 0.1
CLAIM_MARGIN_SECONDS = 5.0
"""How long past its time limit a keyed call's claim is held: a claimant that died is given up on
only when its sandbox would have been killed anyway."""
IDEMPOTENCY_KEY_VARIABLE = "AGENTSUITE_IDEMPOTENCY_KEY"
"""The environment variable holding a keyed call's key inside the sandbox."""
CLAIM_POLL_SECONDS = 0.2
"""How often a try of a keyed call that another try is executing looks for that one's result."""

log = logging.getLogger(__name__)


class ToolSource(Protocol):
    async def get(self, tenant: str, tool_id: str) -> Tool: ...


class SecretSource(Protocol):
    async def resolve(self, tenant: str, agent_id: str, names: tuple[str, ...]) -> dict[str, str]: ...


class ExecutionRecords(Protocol):
    """Claims and stored results of keyed calls (``services.tools.store.executions``)."""

    async def claim(self, tenant: str, key: str, *, tool_id: str, hold_seconds: float) -> Claim: ...

    async def finish(self, tenant: str, key: str, result: ExecutionResult) -> None: ...

    async def release(self, tenant: str, key: str) -> None: ...


class Sandbox(Protocol):
    """Runs one job in a fresh sandboxed process."""

    async def run(self, job: Job) -> ExecutionResult: ...


class ExecutionGate:
    """Bounds executions: ``running`` at once, ``queued`` more waiting; beyond that callers get
    RESOURCE_EXHAUSTED at once instead of an ever longer queue."""

    def __init__(self, *, running: int, queued: int):
        self._slots = asyncio.Semaphore(max(1, running))
        self._queued = queued
        self._waiting = 0

    async def __aenter__(self) -> None:
        if self._slots.locked() and self._waiting >= self._queued:
            raise ResourceExhausted(
                "too many tool executions running and queued; retry later", reason="TOOLS_BUSY"
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1

    async def __aexit__(self, *exc_info) -> None:
        self._slots.release()


@dataclass(frozen=True)
class Call:
    """One call: which tool (stored, or unsaved source), its arguments and who makes it."""

    tenant: str
    arguments_json: str
    agent_id: str = ""
    tool_id: str = ""
    source_code: str = ""
    timeout_seconds: float | None = None
    """The caller's limit for this call; the tool's own applies when None."""
    deadline: float | None = None
    """The RPC's absolute ``time.monotonic()`` deadline."""


class ToolExecutor:
    """Runs tool calls in the sandbox; a tool's failure is a result, bad input an error."""

    def __init__(
        self,
        *,
        tools: ToolSource,
        secrets: SecretSource,
        sandbox: Sandbox | None,
        unavailable_reason: str,
        gate: ExecutionGate,
        limits: Limits,
        records: ExecutionRecords,
    ):
        self._tools = tools
        self._secrets = secrets
        self._sandbox = sandbox
        self._unavailable_reason = unavailable_reason
        self._gate = gate
        self._limits = limits
        self._records = records

    async def run(self, call: Call) -> ExecutionResult:
        return await self._execute(call, await self._prepare(call))

    async def run_once(self, call: Call, key: str) -> tuple[ExecutionResult, bool]:
        """Run a call keyed by ``key`` at most once while its result is kept: the result and
        whether it is the stored one of an earlier execution (replayed).

        A try made while another executes waits for that one's result (within its deadline). A
        try whose twin died before storing a result executes again once the twin's claim, its
        time limit plus ``CLAIM_MARGIN_SECONDS``, has expired; one whose twin failed or was
        cancelled executes at once.
        """
        job = await self._prepare(call)
        # The tool sees its key, so it can hand it to an outside system that drops repeats.
        job = replace(job, environment={**job.environment, IDEMPOTENCY_KEY_VARIABLE: key})
        hold = job.limits.timeout_seconds + CLAIM_MARGIN_SECONDS
        while True:
            claim = await self._records.claim(call.tenant, key, tool_id=call.tool_id, hold_seconds=hold)
            if claim.result is not None:
                return claim.result, True
            if claim.won:
                break
            if call.deadline is not None and time.monotonic() + CLAIM_POLL_SECONDS >= call.deadline:
                raise DeadlineExceeded("another try of this tool call is still executing")
            await asyncio.sleep(CLAIM_POLL_SECONDS)
        try:
            result = await self._execute(call, job)
        except BaseException:
            await asyncio.shield(self._release(call.tenant, key))
            raise
        try:
            await self._records.finish(call.tenant, key, result)
        except Exception as exc:  # the result still reaches the caller; a later try may run again
            log.warning("could not store a tool call's result", extra={"error": str(exc)})
        return result, False

    async def _release(self, tenant: str, key: str) -> None:
        try:
            await self._records.release(tenant, key)
        except Exception as exc:  # the claim then expires by itself
            log.warning("could not release a tool call's claim", extra={"error": str(exc)})

    async def _prepare(self, call: Call) -> Job:
        """The job of a call: its tool, checked arguments, limits and granted secrets."""
        if self._sandbox is None:
            raise FailedPrecondition(self._unavailable_reason, reason="SANDBOX_UNAVAILABLE")
        if call.tool_id:
            tool = await self._tools.get(call.tenant, call.tool_id)
            source, function, schema = tool.source_code, tool.function_name, tool.json_schema
            secret_names, result_chars, tool_timeout = (
                tool.secret_names,
                tool.result_char_limit,
                tool.timeout_seconds,
            )
        else:
            derived = derive_schema(call.source_code)
            source, function = call.source_code, derived.function_name
            schema = function_schema(function, derived.description, derived.parameters)
            secret_names, result_chars, tool_timeout = (), 0, None
        arguments = parse_arguments(call.arguments_json, schema)
        limits = replace(
            self._limits,
            timeout_seconds=self._timeout(call, tool_timeout),
            result_chars=result_chars or self._limits.result_chars,
        )
        environment = await self._secrets.resolve(call.tenant, call.agent_id, secret_names)
        return Job(
            source_code=source,
            function_name=function,
            arguments=arguments,
            environment=environment,
            limits=limits,
        )

    async def _execute(self, call: Call, job: Job) -> ExecutionResult:
        assert self._sandbox is not None
        limits = job.limits
        async with self._gate:
            if call.deadline is not None:
                # Time spent queued counts against the caller's deadline.
                job = replace(
                    job, limits=replace(limits, timeout_seconds=self._bounded(limits.timeout_seconds, call))
                )
            return await self._sandbox.run(job)

    def _timeout(self, call: Call, tool_timeout: float | None) -> float:
        if call.timeout_seconds is not None and call.timeout_seconds <= 0:
            raise InvalidArgument.field("timeout", "must be positive")
        chosen = call.timeout_seconds or tool_timeout or self._limits.timeout_seconds
        return self._bounded(chosen, call)

    @staticmethod
    def _bounded(timeout: float, call: Call) -> float:
        if call.deadline is None:
            return timeout
        return max(0.01, min(timeout, call.deadline - time.monotonic() - DEADLINE_MARGIN_SECONDS))
