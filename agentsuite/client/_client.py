"""``connect()`` and the ``Client`` it returns."""

from __future__ import annotations

import asyncio
import os
from types import TracebackType

import grpc

from agentsuite.client._agents import Agents
from agentsuite.client._call import Caller
from agentsuite.client._channel import TLS, open_channel
from agentsuite.client._conversation import Messages, Runs
from agentsuite.client._converse import Conversation
from agentsuite.client._memory import Archives, Blocks, Passages
from agentsuite.client._tools import Secrets, Tools
from agentsuite.client.errors import Unavailable

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class Client:
    """An asynchronous client of the agentsuite gateway: one channel, every public API.

    Namespaces: ``agents``, ``blocks``, ``archives``, ``passages``, ``messages`` (send, stream,
    broadcast, history), ``runs``, ``tools``, ``secrets``; ``converse()`` opens a bidirectional
    conversation. Close it with ``await client.close()`` or use it as ``async with``.
    """

    def __init__(
        self, channel: grpc.aio.Channel, *, metadata: tuple[tuple[str, str], ...], timeout: float | None
    ):
        self.channel = channel
        """The underlying ``grpc.aio`` channel (for the generated stubs, if ever needed)."""
        caller = Caller(channel, metadata, timeout)
        self._caller = caller
        self.agents = Agents(caller)
        self.blocks = Blocks(caller)
        self.archives = Archives(caller)
        self.passages = Passages(caller)
        self.messages = Messages(caller)
        self.runs = Runs(caller, self.messages)
        self.tools = Tools(caller)
        self.secrets = Secrets(caller)

    def converse(
        self,
        agent_id: str,
        *,
        resume_run_id: str = "",
        resume_after_seq: int = 0,
        timeout: float | None = None,
    ) -> Conversation:
        """A conversation with ``agent_id`` (an async context manager); with ``resume_run_id``,
        the events of that run after ``resume_after_seq`` come first. No deadline by default: a
        conversation lasts as long as its user, kept alive by keepalive pings and heartbeats."""
        return Conversation(
            self._caller,
            agent_id,
            resume_run_id=resume_run_id,
            resume_after_seq=resume_after_seq,
            timeout=timeout,
        )

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the channel is connected; ``Unavailable`` if it is not within ``timeout``."""
        try:
            await asyncio.wait_for(self.channel.channel_ready(), timeout)
        except TimeoutError:
            raise Unavailable(f"the gateway did not answer within {timeout:g} s") from None

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        await self.channel.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def connect(
    address: str | None = None,
    *,
    api_key: str | None = None,
    tls: bool | TLS = False,
    timeout: float | None = DEFAULT_TIMEOUT,
    keepalive_seconds: float = 20.0,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    metadata: dict[str, str] | None = None,
    options: list[tuple[str, object]] | None = None,
) -> Client:
    """A client of the gateway at ``address`` (default ``AGENTSUITE_GATEWAY_ADDR``, else
    127.0.0.1:50051) authenticated by ``api_key`` (default ``AGENTSUITE_API_KEY``).

    ``tls``: False for plaintext, True to verify the gateway with the system's roots, or a ``TLS``
    with a CA file and, for mutual TLS, a client certificate and key. ``timeout``: the deadline of
    each unary call in seconds (``None``: none); long calls (send, export, import, streams of one
    run) have longer defaults, and every method takes ``timeout=``. ``keepalive_seconds``: HTTP/2
    PING interval, so idle streams survive proxies and dead peers are noticed. ``metadata``: extra
    headers sent on every call. ``options``: extra gRPC channel arguments.

    Calls that are safe to repeat are retried on ``UNAVAILABLE`` by the channel itself (see
    ``agentsuite.client._channel.IDEMPOTENT_METHODS``); sends carry a generated idempotency key so
    that a retry never runs twice.

    Call it inside the event loop that will use the client (a ``grpc.aio`` channel belongs to
    one loop); blocking code uses ``connect_sync``.
    """
    address = address or os.environ.get("AGENTSUITE_GATEWAY_ADDR") or DEFAULT_ADDRESS
    api_key = api_key if api_key is not None else os.environ.get("AGENTSUITE_API_KEY")
    headers = [(key.lower(), value) for key, value in (metadata or {}).items()]
    if api_key:
        headers.append(("authorization", f"Bearer {api_key}"))
    channel = open_channel(
        address,
        tls=TLS() if tls is True else (tls or None),
        keepalive_seconds=keepalive_seconds,
        max_message_bytes=max_message_bytes,
        options=options,
    )
    return Client(channel, metadata=tuple(headers), timeout=timeout)
