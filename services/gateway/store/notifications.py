"""PostgreSQL LISTEN/NOTIFY between gateway replicas: new events of a run, work for an agent whose
lease this replica may hold, cancellations of runs it may execute, and revoked API keys.

One dedicated connection per gateway process listens, on the direct URL (LISTEN needs a session of
its own: never through a transaction pooler). A lost connection is re-opened with backoff;
``on_lost`` is told at once, and ``on_reconnect`` once listening again, since notifications sent
meanwhile are gone (a woken watcher re-reads the database, so nothing is missed, only delayed; the
key cache is off in between). A connection can also die without closing (a partition, a hung
server): every ``probe_seconds`` the listener asks the server for an answer within ``probe_seconds``
and gives the connection up when none comes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

RUN_EVENTS = "agentsuite_run_events"
"""Payload: comma-separated ids of runs with newly stored events."""
AGENT_WORK = "agentsuite_agent_work"
"""Payload: ``tenant/agent_id`` of an agent with a newly queued run."""
RUN_CANCEL = "agentsuite_run_cancel"
"""Payload: the id of a running run to cancel."""
KEY_REVOKED = "agentsuite_key_revoked"
"""Payload: the hash of an API key whose row changed (revoked, deleted), or ``*`` for every key.
Sent by a trigger (gateway migration 0004) in the changing transaction."""

Handler = Callable[[str], None]


class Listener:
    def __init__(
        self,
        dsn: str,
        handlers: dict[str, Handler],
        *,
        on_reconnect: Callable[[], None],
        on_lost: Callable[[], None],
        probe_seconds: float = 1.0,
    ):
        self._dsn = dsn
        self._handlers = handlers
        self._on_reconnect = on_reconnect
        self._on_lost = on_lost
        self._probe_seconds = probe_seconds
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep_listening(), name="gateway-listener")
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _keep_listening(self) -> None:
        delay = 0.1
        first = True
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": "agentsuite-gateway-listen"}
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("cannot listen for notifications; retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            listening = False
            answering = True
            try:
                for channel, handler in self._handlers.items():
                    await connection.add_listener(channel, _dispatch(handler))
                listening = True
                delay = 0.1
                if not first:
                    self._on_reconnect()
                first = False
                self._ready.set()
                answering = await self._until_lost(connection, lost)
                log.warning("the notification connection was lost; reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("listening failed; reconnecting", extra={"error": str(exc)})
            finally:
                if listening:
                    self._on_lost()
                if not answering:
                    connection.terminate()
                elif not connection.is_closed():
                    await connection.close(timeout=2)

    async def _until_lost(self, connection: asyncpg.Connection, lost: asyncio.Event) -> bool:
        """Wait until the connection closes (True) or stops answering a probe in time (False)."""
        while True:
            try:
                await asyncio.wait_for(lost.wait(), self._probe_seconds)
                return True
            except TimeoutError:
                pass
            try:
                await connection.fetchval("SELECT 1", timeout=self._probe_seconds)
            except TimeoutError:
                log.warning("the notification connection stopped answering")
                return False


def _dispatch(handler: Handler):
    def on_notification(_connection, _pid, _channel, payload: str) -> None:
        try:
            handler(payload)
        except Exception:
            log.exception("a notification handler failed")

    return on_notification
