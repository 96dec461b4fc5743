"""PostgreSQL LISTEN/NOTIFY between gateway replicas: new events of a run, work for an agent whose
lease this replica may hold, and cancellations of runs it may execute.

One dedicated connection per gateway process listens. A lost connection is re-opened with backoff;
on reconnect every subscriber is woken, since notifications sent meanwhile are gone (a woken watcher
re-reads the database, so nothing is missed, only delayed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import plain_dsn

log = logging.getLogger(__name__)

RUN_EVENTS = "agentsuite_run_events"
"""Payload: comma-separated ids of runs with newly stored events."""
AGENT_WORK = "agentsuite_agent_work"
"""Payload: ``tenant/agent_id`` of an agent with a newly queued run."""
RUN_CANCEL = "agentsuite_run_cancel"
"""Payload: the id of a running run to cancel."""

Handler = Callable[[str], None]


class Listener:
    def __init__(self, engine: AsyncEngine, handlers: dict[str, Handler], on_reconnect: Callable[[], None]):
        self._dsn = plain_dsn(engine)
        self._handlers = handlers
        self._on_reconnect = on_reconnect
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
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot listen for notifications; retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            try:
                for channel, handler in self._handlers.items():
                    await connection.add_listener(channel, _dispatch(handler))
                delay = 0.1
                if not first:
                    self._on_reconnect()
                first = False
                self._ready.set()
                await lost.wait()
                log.warning("the notification connection was lost; reconnecting")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("listening failed; reconnecting", extra={"error": str(exc)})
            finally:
                if not connection.is_closed():
                    await connection.close(timeout=2)


def _dispatch(handler: Handler):
    def on_notification(_connection, _pid, _channel, payload: str) -> None:
        try:
            handler(payload)
        except Exception:
            log.exception("a notification handler failed")

    return on_notification
