"""How a run's events and failures are told back to a caller: the unary reply collected from a run's
events, and a failure as an error event or a broadcast result, with the code, message and details a
call would get."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from services.common.errors import AgentSuiteError
from services.common.server import failure_status
from services.common.status import details_of, to_status
from services.gateway.core.events import is_finished


async def collect(
    events: AsyncIterator[gateway_pb2.RunEvent], response: gateway_service_pb2.SendMessageResponse
) -> None:
    """Fill ``response`` with the messages and the finished run that ``events`` tell."""
    async for event in events:
        kind = event.WhichOneof("event")
        if kind in ("message_persisted", "assistant_message"):
            response.messages.append(getattr(event, kind))
        elif is_finished(event):
            response.run.CopyFrom(event.finished.run)
            response.usage.CopyFrom(event.finished.run.usage)


def error_event(exc: BaseException) -> gateway_pb2.ErrorEvent:
    """A failure inside a conversation, told as an event."""
    status = failure_status(exc, "ConversationService.Converse")
    return gateway_pb2.ErrorEvent(
        code=status.code.value[0], message=status.details, details=details_of(status)
    )


def fail(result: gateway_pb2.BroadcastResult, error: AgentSuiteError) -> None:
    """Record in ``result`` the failure of one agent of a broadcast, as a call would report it."""
    status = to_status(error)
    result.error_code = status.code.value[0]
    result.error_message = status.details
    result.error_details.extend(details_of(status))
