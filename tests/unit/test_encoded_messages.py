"""Messages put into a response from their cached encoding are the messages a copy would give."""

from __future__ import annotations

from datetime import UTC, datetime

from agentsuite.memory.v1 import memory_service_pb2
from services.memory.api.convert import add_encoded, encoded_message, message_to_proto
from services.memory.core.model import Role, StoredMessage, ToolCallRecord


def stored(seq: int, **fields) -> StoredMessage:
    moment = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    return StoredMessage(
        role=Role.ASSISTANT, id=f"m{seq}", agent_id="a", seq=seq, run_id="r", created_at=moment, **fields
    )


def test_encoded_messages_added_to_a_field_equal_copied_ones():
    messages = [
        stored(1),  # empty metadata: still present, as when copied
        stored(2, content="long " * 100, metadata={"usage": {"tokens": 3}}),  # a length over 127
        stored(3, tool_calls=(ToolCallRecord("c1", "lookup", "{}"),), reasoning="why"),
    ]
    response = memory_service_pb2.GetContextResponse(summary="kept", epoch=4)

    add_encoded(response, "messages", [encoded_message(m) for m in messages])
    add_encoded(response, "messages", [])

    expected = memory_service_pb2.GetContextResponse(
        summary="kept", epoch=4, messages=[message_to_proto(m) for m in messages]
    )
    assert response == expected
    assert all(m.HasField("metadata") for m in response.messages)
