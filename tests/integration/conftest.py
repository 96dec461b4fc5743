"""Fixtures of the integration tests: the real PostgreSQL (from the root conftest) and, for the
memory service's API, an in-process server over it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from services.common.server import ServiceHost
from services.common.settings import Settings
from services.memory.__main__ import registrations
from services.memory.core.steps import AgentSteps
from services.memory.embedding import build_embedders
from services.memory.store.agents import ensure_agent
from services.memory.store.recall import RecallStore
from services.memory.store.recent import RecentMessages
from services.memory.store.steps import StepStore


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def tenant() -> str:
    """A tenant of its own for each test, so tests never see each other's rows."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def agent_id(migrated_engine, tenant) -> str:
    """An agent of ``tenant`` that memory knows (as after InitializeAgentMemory): appends need it."""
    agent = str(uuid.uuid4())
    async with migrated_engine.begin() as conn:
        await ensure_agent(conn, tenant, agent)
    return agent


@pytest.fixture
def recent() -> RecentMessages:
    """The kept newest messages a test's message store and context reader share, as in the service."""
    return RecentMessages()


@dataclass(frozen=True)
class MessageStores:
    """The message stores of one test, sharing ``recent`` as in the service."""

    steps: AgentSteps
    """The step path (core) over the real ``StepStore``."""
    step_store: StepStore
    recall: RecallStore


@pytest.fixture
def message_stores(migrated_engine, migrated_pool, recent) -> MessageStores:
    step_store = StepStore(migrated_pool, recent)
    return MessageStores(AgentSteps(step_store), step_store, RecallStore(migrated_engine))


@pytest.fixture(scope="session")
async def memory_channel(migrated_engine, migrated_pool) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the memory service's API, served in process over the test database."""
    embedders = build_embedders(Settings(service="memory"))
    host = ServiceHost(
        Settings(service="test", port=0, tracing=False, grace_seconds=0),
        registrations(migrated_engine, migrated_pool, embedders),
    )
    port = await host.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await host.stop()
