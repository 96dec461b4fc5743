"""Revocation reaches every gateway replica at once: a trigger notifies in the revoking
transaction, whoever wrote it, and the listener evicts the key from the cache. While the listening
connection is down (or stops answering), the cache is not trusted."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from sqlalchemy import text

from services.common.errors import Unauthenticated
from services.gateway.core.keys import ApiKeys, key_hash
from services.gateway.store.keys import KeyStore
from services.gateway.store.notifications import KEY_REVOKED, Listener

BOUND_S = 0.5
"""The promise of docs/configuration.md ("API keys") for a replica whose notification connection is up."""


class CountingStore:
    def __init__(self, store: KeyStore):
        self.store = store
        self.lookups = 0

    async def tenant_for_hash(self, digest: str) -> str | None:
        self.lookups += 1
        return await self.store.tenant_for_hash(digest)


@pytest.fixture
def store(migrated_engine) -> KeyStore:
    return KeyStore(migrated_engine)


@pytest.fixture
async def heard(database_url):
    """Payloads of revocation notifications, as any listener hears them."""
    payloads: asyncio.Queue[str] = asyncio.Queue()
    connection = await asyncpg.connect(database_url)
    await connection.add_listener(KEY_REVOKED, lambda *args: payloads.put_nowait(args[-1]))
    try:
        yield payloads
    finally:
        await connection.close()


async def _next(payloads: asyncio.Queue[str], wanted: str) -> str:
    async with asyncio.timeout(5):
        while (payload := await payloads.get()) != wanted:
            pass
    return payload


async def test_revoking_a_key_notifies_its_hash(store, tenant, heard):
    issued = await store.issue(tenant)

    await store.revoke(issued.id)

    assert await _next(heard, key_hash(issued.key)) == key_hash(issued.key)


async def test_a_revocation_written_by_any_path_notifies(store, migrated_engine, tenant, heard):
    # `agentsuite keys revoke`, an operator's psql: the trigger is in the database, not in our code.
    revoked, deleted = await store.issue(tenant), await store.issue(tenant)

    async with migrated_engine.begin() as conn:
        await conn.execute(
            text("UPDATE gateway.api_keys SET revoked_at = now() WHERE id = :id"), {"id": revoked.id}
        )
        await conn.execute(text("DELETE FROM gateway.api_keys WHERE id = :id"), {"id": deleted.id})

    await _next(heard, key_hash(revoked.key))
    await _next(heard, key_hash(deleted.key))


async def test_a_revocation_rolled_back_notifies_nobody(store, migrated_engine, tenant, heard):
    issued = await store.issue(tenant)

    async with migrated_engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(
            text("UPDATE gateway.api_keys SET revoked_at = now() WHERE id = :id"), {"id": issued.id}
        )
        await transaction.rollback()

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_next(heard, key_hash(issued.key)), 0.5)


class ProxyToDatabase:
    """A TCP proxy in front of the test database that a test can cut, close, or freeze (forward
    nothing, close nothing: a partition, as the listener sees it)."""

    def __init__(self, host: str, port: int):
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.refusing = False
        self.forwarding = asyncio.Event()
        self.forwarding.set()

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        self.forwarding.set()
        self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.forwarding.wait()
                writer.write(data)
        except OSError:
            pass
        finally:
            writer.transport.abort()


@pytest.fixture
async def proxy(migrated_engine) -> ProxyToDatabase:
    url = migrated_engine.url
    proxy = ProxyToDatabase(url.host, url.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture
async def listening_keys(store, migrated_engine, proxy):
    """An ApiKeys cache over the real store, fed by a real Listener (through ``proxy``), as in the
    gateway."""
    counting = CountingStore(store)
    keys = ApiKeys(counting, ttl=60)
    through_proxy = migrated_engine.url.set(drivername="postgresql", port=proxy.port)
    listener = Listener(
        through_proxy.render_as_string(hide_password=False),
        {KEY_REVOKED: keys.on_revoked},
        on_reconnect=keys.notifications_restored,
        on_lost=keys.notifications_lost,
        probe_seconds=0.2,
    )
    await listener.start()
    try:
        yield keys, counting
    finally:
        await listener.close()


async def test_a_cached_key_stops_working_within_the_bound_once_revoked(store, tenant, listening_keys):
    keys, counting = listening_keys
    issued = await store.issue(tenant)
    bearer = f"Bearer {issued.key}"
    assert await keys.tenant_for(bearer) == tenant
    assert await keys.tenant_for(bearer) == tenant
    assert counting.lookups == 1  # cached

    await store.revoke(issued.key)
    revoked_at = time.monotonic()
    await _until_unauthenticated(keys, bearer)

    assert time.monotonic() - revoked_at < BOUND_S


async def _until_unauthenticated(keys: ApiKeys, bearer: str) -> None:
    started = time.monotonic()
    while True:
        try:
            await keys.tenant_for(bearer)
        except Unauthenticated:
            return
        assert time.monotonic() - started < 5, "the revoked key still works"
        await asyncio.sleep(0.001)


async def _until(condition, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_while_the_listening_connection_is_down_nothing_is_cached_and_nothing_missed(
    store, tenant, proxy, listening_keys
):
    keys, counting = listening_keys
    issued = await store.issue(tenant)
    bearer = f"Bearer {issued.key}"
    await keys.tenant_for(bearer)

    proxy.refusing = True
    proxy.cut()
    await _until(lambda: not keys.caching, timeout=BOUND_S)

    before = counting.lookups
    await keys.tenant_for(bearer)
    await keys.tenant_for(bearer)
    assert counting.lookups - before == 2  # every call asks the database

    await store.revoke(issued.id)  # nobody hears it
    with pytest.raises(Unauthenticated):
        await keys.tenant_for(bearer)

    proxy.refusing = False
    await _until(lambda: keys.caching)
    with pytest.raises(Unauthenticated):
        await keys.tenant_for(bearer)


async def test_a_cache_that_missed_a_revocation_is_emptied_when_listening_again(
    store, tenant, proxy, listening_keys
):
    keys, _ = listening_keys
    issued = await store.issue(tenant)
    bearer = f"Bearer {issued.key}"
    await keys.tenant_for(bearer)

    proxy.refusing = True
    proxy.cut()
    await store.revoke(issued.id)  # its notification was never delivered to this listener
    proxy.refusing = False
    await _until(lambda: keys.caching)

    with pytest.raises(Unauthenticated):
        await keys.tenant_for(bearer)


async def test_a_listening_connection_that_goes_silent_is_given_up(proxy, listening_keys):
    keys, _ = listening_keys
    assert keys.caching

    proxy.forwarding.clear()  # a partition: nothing arrives, nothing closes
    try:
        # a probe after 0.2 s of silence, unanswered 0.2 s later
        elapsed = await _until(lambda: not keys.caching, timeout=2.0)
    finally:
        proxy.cut()
        proxy.forwarding.set()

    assert elapsed < 1.0
    await _until(lambda: keys.caching)
