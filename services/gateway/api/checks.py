"""Validation of ConversationService input: the messages, options and keys a request carries, and the
Submission they make. Every check names the field it refuses (INVALID_ARGUMENT with details)."""

from __future__ import annotations

from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from services.common.errors import InvalidArgument, Validation
from services.common.message_input import check_input_messages
from services.common.protobuf import require_id
from services.common.values import has_nul
from services.gateway.core.runs import Submission

MAX_KEY_CHARS = 256
"""The longest idempotency key or send_id a request may carry."""

_VALID_POLICIES = (
    gateway_pb2.BUSY_POLICY_UNSPECIFIED,
    gateway_pb2.BUSY_POLICY_ENQUEUE,
    gateway_pb2.BUSY_POLICY_REJECT,
    gateway_pb2.BUSY_POLICY_INTERRUPT,
)


def submission_of(request, *, deltas: bool) -> Submission:
    """The run a SendMessage, StreamMessage or CreateRun request asks for, once its input is valid."""
    agent_id = require_id(request.agent_id, "agent_id")
    validate_messages(request.messages, required=not request.approvals)
    validate_options(request.busy_policy, request.max_steps, request.idempotency_key)
    return Submission(
        agent_id=agent_id,
        messages=request.messages,
        idempotency_key=request.idempotency_key,
        busy_policy=request.busy_policy,
        max_steps=request.max_steps,
        approvals=request.approvals,
        deltas=deltas,
    )


def validate_messages(messages, *, required: bool) -> None:
    check = Validation()
    check_input_messages(check, messages, "messages", required=required, unspecified_role=True)
    check.raise_if_any()


def validate_options(busy_policy: int, max_steps: int, idempotency_key: str) -> None:
    check = Validation()
    check.check(busy_policy in _VALID_POLICIES, "busy_policy", "must be a BusyPolicy value")
    check.check(max_steps >= 0, "max_steps", "must not be negative")
    check.check(
        len(idempotency_key) <= MAX_KEY_CHARS,
        "idempotency_key",
        f"must be at most {MAX_KEY_CHARS} characters",
    )
    check.check(not has_nul(idempotency_key), "idempotency_key", "must not contain NUL characters")
    check.raise_if_any()


def validate_send_id(send_id: str, field: str) -> None:
    if len(send_id) > MAX_KEY_CHARS:
        raise InvalidArgument.field(field, f"must be at most {MAX_KEY_CHARS} characters")


def validate_broadcast(request: gateway_service_pb2.BroadcastRequest) -> None:
    validate_messages(request.messages, required=True)
    validate_options(request.busy_policy, 0, request.idempotency_key)
    check = Validation()
    check.check(request.max_concurrency >= 0, "max_concurrency", "must not be negative")
    check.check(
        bool(request.selector.agent_ids or request.selector.tags),
        "selector",
        "must name agent ids or tags",
    )
    check.raise_if_any()
