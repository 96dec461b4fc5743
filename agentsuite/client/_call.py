"""How every method calls: the API key, a deadline, and failures raised as ``AgentSuiteError``."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

import grpc

from agentsuite.client.errors import error_from_rpc
from agentsuite.common.v1 import common_pb2

T = TypeVar("T")


class Default(enum.Enum):
    """The client's default deadline for a call (``connect(timeout=...)``)."""

    TIMEOUT = "default"


DEFAULT = Default.TIMEOUT
Timeout = float | None | Default
"""A call's deadline in seconds; ``None`` waits for ever; ``DEFAULT`` is the client's default."""


class Caller:
    """Calls gRPC methods with the client's metadata and deadlines; shared by every namespace."""

    def __init__(
        self, channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], timeout: float | None
    ):
        self.channel = channel
        self.metadata = metadata
        self.default_timeout = timeout

    def timeout(self, timeout: Timeout, default: float | None = None) -> float | None:
        """Seconds for the call: the one given, else ``default``, else the client's."""
        if timeout is DEFAULT:
            return default if default is not None else self.default_timeout
        return timeout

    async def unary(
        self, method: Callable[..., Any], request, timeout: Timeout, default: float | None = None
    ):
        """Call a unary method; the response, or the error it failed with."""
        try:
            return await method(request, metadata=self.metadata, timeout=self.timeout(timeout, default))
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    async def stream(
        self, method: Callable[..., Any], request, timeout: Timeout, default: float | None = None
    ) -> AsyncIterator:
        """Call a server-streaming method; its responses, then the error it failed with (if any).
        Leaving the loop early cancels the call."""
        call = method(request, metadata=self.metadata, timeout=self.timeout(timeout, default))
        try:
            async for response in call:
                yield response
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        finally:
            call.cancel()

    async def pages(self, method: Callable[..., Any], request, items: str, timeout: Timeout) -> AsyncIterator:
        """Every item of a paged list, fetching the next page when the last one is read."""
        while True:
            page = await self.unary(method, request, timeout)
            for item in getattr(page, items):
                yield item
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token


def new_key() -> str:
    """A fresh idempotency key (a UUID), so a call the channel retries never executes twice."""
    return str(uuid.uuid4())


def input_messages(
    messages: str | common_pb2.InputMessage | Iterable[str | common_pb2.InputMessage],
) -> list[common_pb2.InputMessage]:
    """The contract's input messages for text (a user message) or messages given as such."""
    if isinstance(messages, str | common_pb2.InputMessage):
        messages = [messages]
    return [user(message) if isinstance(message, str) else message for message in messages]


def user(content: str, *, name: str = "", metadata: dict | None = None) -> common_pb2.InputMessage:
    """A user message."""
    return common_pb2.InputMessage(
        role=common_pb2.MESSAGE_ROLE_USER, content=content, name=name, metadata=metadata
    )


def system(content: str, *, name: str = "", metadata: dict | None = None) -> common_pb2.InputMessage:
    """A system message (an instruction from the operator, not the end user)."""
    return common_pb2.InputMessage(
        role=common_pb2.MESSAGE_ROLE_SYSTEM, content=content, name=name, metadata=metadata
    )


def enum_value(enum_type, value: str | int, prefix: str) -> int:
    """An enum number from its number, its full name or its short name (``"reject"`` for
    ``BUSY_POLICY_REJECT``)."""
    if isinstance(value, int):
        return value
    name = value.upper()
    if not name.startswith(prefix):
        name = prefix + name
    try:
        return enum_type.Value(name)
    except ValueError:
        names = ", ".join(n.removeprefix(prefix).lower() for n in enum_type.keys()[1:])
        raise ValueError(f"{value!r} is not one of: {names}") from None
