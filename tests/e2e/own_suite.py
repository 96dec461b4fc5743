"""A suite of its own for a test that needs the services started differently from the session's
(behind PgBouncer, with TLS): same fake LLM and database server, its own ports and environment."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from services.cli.supervisor import Suite, SuitePorts
from services.common.db import create_engine
from services.common.ports import free_port
from services.common.settings import Settings
from services.gateway.store.keys import KeyStore
from services.tools.store.sealing import generate_key


def suite_env(llm_base_url: str) -> dict[str, str]:
    """The environment every end-to-end suite's services share (the fake LLM, a secrets key)."""
    return {
        "AGENTSUITE_OPENAI_BASE_URL": llm_base_url,
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "AGENTSUITE_LOG_LEVEL": "INFO",
        "AGENTSUITE_SECRETS_KEY": generate_key(),
    }


@asynccontextmanager
async def own_suite(
    database_url: str,
    llm_base_url: str,
    log_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    service_env: Mapping[str, Mapping[str, str]] | None = None,
) -> AsyncIterator[Suite]:
    """The four services on free ports, SERVING, stopped when the context ends."""
    suite = Suite(
        database_url=database_url,
        ports=SuitePorts(gateway=free_port(), agent=free_port(), memory=free_port(), tools=free_port()),
        env={**suite_env(llm_base_url), **(env or {})},
        service_env=service_env or {},
        log_dir=log_dir,
    )
    await suite.start()
    try:
        yield suite
    finally:
        suite.stop()


async def new_key(database_url: str, tenant: str) -> str:
    """An API key of ``tenant``, written straight into the gateway's table."""
    engine = create_engine(database_url, Settings(service="test", db_pool_size=1))
    try:
        return (await KeyStore(engine).issue(tenant)).key
    finally:
        await engine.dispose()
