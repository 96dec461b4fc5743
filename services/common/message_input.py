"""The one check of the messages a client sends an agent (``common.v1.InputMessage``), made where
they enter: the gateway's ConversationService and the agent service's ``AgentRuntime.Step``."""

from __future__ import annotations

from collections.abc import Sequence

from agentsuite.common.v1 import common_pb2
from services.common.errors import Validation
from services.common.values import has_nul

MAX_MESSAGES = 100
"""Messages in one request."""
MAX_MESSAGE_CHARS = 1_000_000
MAX_NAME_CHARS = 200


def check_input_messages(
    check: Validation,
    messages: Sequence[common_pb2.InputMessage],
    field: str,
    *,
    required: bool = True,
    unspecified_role: bool = False,
) -> None:
    """Record in ``check`` what is wrong with ``messages`` (the request field ``field``): their
    number (at least one when ``required``), empty or oversized content, NUL characters, long names,
    and roles other than USER or SYSTEM (or unspecified, meaning USER, when ``unspecified_role``)."""
    if required:
        check.check(
            0 < len(messages) <= MAX_MESSAGES, field, f"must hold between 1 and {MAX_MESSAGES} messages"
        )
    else:
        check.check(len(messages) <= MAX_MESSAGES, field, f"must hold at most {MAX_MESSAGES} messages")
    roles = {common_pb2.MESSAGE_ROLE_USER, common_pb2.MESSAGE_ROLE_SYSTEM}
    if unspecified_role:
        roles.add(common_pb2.MESSAGE_ROLE_UNSPECIFIED)
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        check.check(bool(message.content.strip()), f"{where}.content", "must not be empty")
        check.check(
            len(message.content) <= MAX_MESSAGE_CHARS,
            f"{where}.content",
            f"must be at most {MAX_MESSAGE_CHARS} characters",
        )
        check.check(not has_nul(message.content), f"{where}.content", "must not contain NUL characters")
        check.check(
            len(message.name) <= MAX_NAME_CHARS,
            f"{where}.name",
            f"must be at most {MAX_NAME_CHARS} characters",
        )
        check.check(
            message.role in roles,
            f"{where}.role",
            "must be USER or SYSTEM (unspecified means USER)"
            if unspecified_role
            else "must be USER or SYSTEM",
        )
