"""The scope of the call being served: tenant, deadline, call chain and request id.

Set by the server-side handler wrapper when an RPC arrives and read by the client wrappers when the
service calls another one, so tenant and remaining deadline travel downstream without core code
knowing about gRPC.
"""

from __future__ import annotations

import contextvars
import random
import re
import time
from dataclasses import dataclass

TENANT_KEY = "x-agentsuite-tenant"
CALL_CHAIN_KEY = "x-agentsuite-call-chain"
REQUEST_ID_KEY = "x-agentsuite-request-id"
PARENT_RUN_KEY = "x-agentsuite-parent-run"
"""The run of the agent that sends a message to another agent (trusted from the agent service only)."""
TRACE_ID_KEY = "x-agentsuite-trace-id"
"""Response metadata of the gateway: the trace id of the call, for a user to quote (initial metadata
of streaming calls, trailing metadata of unary ones)."""
TRACEPARENT_KEY = "traceparent"
"""W3C trace context: ``00-<trace id>-<parent span id>-<flags>``."""

_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass(frozen=True)
class CallScope:
    """What is known about the incoming call."""

    tenant: str | None = None
    """The tenant resolved by the gateway, or None before authentication."""
    deadline: float | None = None
    """Absolute ``time.monotonic()`` by which the caller wants an answer, if it set one."""
    call_chain: tuple[str, ...] = ()
    """Agent ids of the agent-to-agent call chain, oldest first."""
    request_id: str | None = None
    """Correlates log lines across services."""
    parent_run_id: str | None = None
    """At the gateway, the run of the agent that sent this message to another agent."""
    trace_id: str | None = None
    """The W3C trace id (32 hex digits) the call belongs to, when traces are not recorded: log lines
    of one request carry it in every service (recorded traces carry their own)."""
    authenticated: bool = False
    """Made by the gateway's edge authentication: the tenant, call chain and parent run are the ones
    it resolved, and the ``x-agentsuite-*`` metadata a client sends counts for nothing."""

    def remaining(self, default: float) -> float:
        """Seconds left until the deadline, or ``default`` when the caller set none."""
        if self.deadline is None:
            return default
        return max(0.0, self.deadline - time.monotonic())

    def with_tenant(self, tenant: str) -> CallScope:
        return CallScope(
            tenant, self.deadline, self.call_chain, self.request_id, self.parent_run_id, self.trace_id
        )

    def traceparent(self) -> str:
        """A ``traceparent`` continuing this call's trace downstream (a fresh span id each time)."""
        return f"00-{self.trace_id}-{random.getrandbits(64):016x}-00"


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a well-formed ``traceparent`` (an all-zero one is invalid), else None."""
    match = _TRACEPARENT.fullmatch(traceparent or "")
    if match is None or match.group(1) == "0" * 32:
        return None
    return match.group(1)


def new_trace_id() -> str:
    return f"{random.getrandbits(128):032x}"


def parse_call_chain(value: str) -> tuple[str, ...]:
    """The agent ids of ``x-agentsuite-call-chain``, oldest first."""
    return tuple(part for part in value.split(",") if part)


_current: contextvars.ContextVar[CallScope] = contextvars.ContextVar("agentsuite_call", default=CallScope())


def current_call() -> CallScope:
    """The scope of the RPC this task is serving (an empty scope outside of one)."""
    return _current.get()


def enter_call(scope: CallScope) -> None:
    """Make ``scope`` current for this task (grpc.aio serves every RPC in a task of its own)."""
    _current.set(scope)


def require_tenant() -> str:
    """The current tenant; raises Unauthenticated when the call carries none."""
    from services.common.errors import Unauthenticated

    tenant = current_call().tenant
    if not tenant:
        raise Unauthenticated(f"missing {TENANT_KEY} metadata", reason="NO_TENANT")
    return tenant
