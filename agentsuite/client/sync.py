"""A blocking client for scripts and notebooks: the asynchronous one, run on an event loop in a
background thread. Same namespaces, same methods, same arguments; coroutines return their
result, async iterators become iterators, the conversation a ``with`` block.

    with connect_sync("127.0.0.1:50051", api_key=key) as client:
        agent = client.agents.create("ann")
        print(client.messages.send(agent.id, "hello").text)
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

from agentsuite.client._client import Client, connect

T = TypeVar("T")

__all__ = ["SyncClient", "SyncConversation", "connect_sync"]


class _Loop:
    """An event loop running in a daemon thread; coroutines are run on it and waited for."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="agentsuite-client", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self.run(iterator.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None and self.loop.is_running():
                self.run(aclose())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class _Blocking:
    """Wraps an object of the async client: its methods block until done."""

    def __init__(self, target: Any, loop: _Loop):
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def blocking(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if inspect.iscoroutine(result):
                return self._loop.run(result)
            if isinstance(result, AsyncIterator):
                return self._loop.iterate(result)
            return result

        blocking.__doc__ = attribute.__doc__
        blocking.__name__ = name
        return blocking


class SyncConversation(_Blocking):
    """A conversation as a ``with`` block; iterating it yields the events."""

    def __enter__(self) -> SyncConversation:
        self._loop.run(self._target.__aenter__())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._loop.run(self._target.close())

    def __iter__(self) -> Iterator[Any]:
        return self._loop.iterate(self._target.events())


class SyncClient:
    """The blocking client; see ``connect_sync``."""

    def __init__(self, loop: _Loop, client: Client):
        self._loop = loop
        self._client = client
        self.channel = client.channel
        self.agents = _Blocking(client.agents, loop)
        self.blocks = _Blocking(client.blocks, loop)
        self.archives = _Blocking(client.archives, loop)
        self.passages = _Blocking(client.passages, loop)
        self.messages = _Blocking(client.messages, loop)
        self.runs = _Blocking(client.runs, loop)
        self.tools = _Blocking(client.tools, loop)
        self.secrets = _Blocking(client.secrets, loop)

    def converse(self, agent_id: str, **options: Any) -> SyncConversation:
        """A conversation with ``agent_id`` (use it as ``with``); see ``Client.converse``."""
        return SyncConversation(self._client.converse(agent_id, **options), self._loop)

    def wait_ready(self, timeout: float = 10.0) -> None:
        self._loop.run(self._client.wait_ready(timeout))

    def close(self) -> None:
        """Close the channel and stop the background loop."""
        if self._loop.loop.is_running():
            self._loop.run(self._client.close())
            self._loop.stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def connect_sync(address: str | None = None, **options: Any) -> SyncClient:
    """A blocking client; takes the arguments of ``agentsuite.client.connect``."""
    loop = _Loop()

    async def create() -> Client:  # the channel belongs to the loop that will run its calls
        return connect(address, **options)

    return SyncClient(loop, loop.run(create()))
