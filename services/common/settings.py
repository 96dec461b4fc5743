"""Settings, read once from the environment at start-up and passed down as one frozen object.

Every variable is optional; the defaults run the whole suite on one laptop. A value that is present
but malformed stops the process at start-up with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORTS: Mapping[str, int] = {"gateway": 50051, "agent": 50052, "memory": 50053, "tools": 50054}
"""The well-known port of each service (gateway is the public one)."""


class SettingsError(ValueError):
    """An environment variable holds a value the suite cannot use."""


def default_state_dir() -> Path:
    """Where the suite keeps its embedded database and API key.

    As root we use ``/var/lib/agentsuite``: the embedded PostgreSQL must run as an unprivileged user
    that can traverse to its data directory, and ``/var/lib`` needs no permission changes for that
    (a home directory such as ``/root`` would).
    """
    if os.geteuid() == 0:
        return Path("/var/lib/agentsuite")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "agentsuite"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a service process needs to know about its environment."""

    service: str
    """Which service this process runs: gateway, agent, memory or tools (or "cli")."""
    host: str = "127.0.0.1"
    """Address to listen on (``AGENTSUITE_HOST``); backends stay on private addresses."""
    port: int = 0
    """Port to listen on (``AGENTSUITE_PORT``); defaults to the service's well-known port."""
    gateway_addr: str = "127.0.0.1:50051"
    """Where the gateway listens, for agents that message each other (``AGENTSUITE_GATEWAY_ADDR``)."""
    agent_addr: str = "127.0.0.1:50052"
    """Where the agent service listens (``AGENTSUITE_AGENT_ADDR``)."""
    memory_addr: str = "127.0.0.1:50053"
    """Where the memory service listens (``AGENTSUITE_MEMORY_ADDR``)."""
    tools_addr: str = "127.0.0.1:50054"
    """Where the tools service listens (``AGENTSUITE_TOOLS_ADDR``)."""
    database_url: str | None = field(default=None, repr=False)
    """PostgreSQL URL (``DATABASE_URL``); unset means the embedded server under ``state_dir``. It may
    name a transaction-pooling PgBouncer (see ``database_direct_url``)."""
    database_direct_url: str | None = field(default=None, repr=False)
    """A direct PostgreSQL URL, never through a transaction pooler, for what needs a session: the
    gateway's LISTEN, advisory locks, migrations, index builds (``AGENTSUITE_DATABASE_DIRECT_URL``);
    unset = ``DATABASE_URL``."""
    db_transaction_pooler: bool = False
    """``DATABASE_URL`` goes through a transaction-pooling proxy such as PgBouncer
    (``AGENTSUITE_DB_TRANSACTION_POOLER``; by default on exactly when ``AGENTSUITE_DATABASE_DIRECT_URL``
    names another URL). Then statements on it use unnamed prepared statements only (none has to
    survive its transaction) and connections send no session settings at start-up (PgBouncer refuses
    them): the statement timeout comes from the database role (docs/deployment.md, PgBouncer)."""
    state_dir: Path = field(default_factory=default_state_dir)
    """Embedded database, API key file (``AGENTSUITE_STATE_DIR``)."""
    db_pool_size: int = 20
    """Connections per process, kept open; more callers wait for one (``AGENTSUITE_DB_POOL_SIZE``).
    A fixed pool: connections opened past it and closed after one use would cost PostgreSQL a
    process start and an authentication each."""
    db_statement_timeout_ms: int = 30_000
    """Server-side limit for any one statement (``AGENTSUITE_DB_STATEMENT_TIMEOUT_MS``); behind a
    transaction pooler, set it on the database role instead."""
    tls_cert_file: Path | None = None
    """PEM certificate chain this service serves with and presents as its client certificate on
    outgoing calls (``AGENTSUITE_TLS_CERT_FILE``); with the key, the service listens with TLS only."""
    tls_key_file: Path | None = None
    """PEM private key of that certificate (``AGENTSUITE_TLS_KEY_FILE``)."""
    tls_ca_file: Path | None = None
    """PEM CA bundle (``AGENTSUITE_TLS_CA_FILE``): set, every outgoing channel (to the backends, the
    gateway; the CLI's) uses TLS and verifies the server with it; with ``tls_require_client_cert`` it
    also verifies callers. Unset, outgoing channels are plaintext."""
    tls_require_client_cert: bool = False
    """Refuse callers without a client certificate signed by ``tls_ca_file``
    (``AGENTSUITE_TLS_REQUIRE_CLIENT_CERT``): mutual TLS; true on backends in production, usually
    false on the gateway (clients authenticate with API keys)."""
    log_level: str = "INFO"
    """Python logging level (``AGENTSUITE_LOG_LEVEL``)."""
    tracing: bool = True
    """Create OpenTelemetry spans and put trace ids in logs (``AGENTSUITE_TRACING``)."""
    metrics_port: int | None = None
    """Serve the metrics for Prometheus on this port (``AGENTSUITE_METRICS_PORT``); unset = off."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics port listens on (``AGENTSUITE_METRICS_HOST``; 0.0.0.0 in a container)."""
    max_message_bytes: int = 64 * 1024 * 1024
    """Largest gRPC message accepted or sent (``AGENTSUITE_MAX_MESSAGE_BYTES``); an exported agent
    document is one message, so this also caps its size."""
    keepalive_time_ms: int = 20_000
    """HTTP/2 keepalive ping interval on servers and channels (``AGENTSUITE_KEEPALIVE_TIME_MS``)."""
    drain_seconds: float = 0.0
    """After SIGTERM, how long to answer NOT_SERVING before stopping (``AGENTSUITE_DRAIN_SECONDS``)."""
    grace_seconds: float = 10.0
    """How long in-flight RPCs may finish during a graceful stop (``AGENTSUITE_GRACE_SECONDS``)."""
    default_deadline_seconds: float = 30.0
    """Deadline for an outgoing call when the incoming one had none (``AGENTSUITE_DEFAULT_DEADLINE_SECONDS``)."""
    openai_base_url: str | None = None
    """OpenAI-compatible endpoint (``AGENTSUITE_OPENAI_BASE_URL`` or ``OPENAI_BASE_URL``)."""
    openai_api_key: str | None = field(default=None, repr=False)
    """Key for that endpoint (``OPENAI_API_KEY``); never logged."""
    default_model: str | None = None
    """Model used when an agent names none (``AGENTSUITE_MODEL``)."""
    context_max_messages: int = 100
    """Most messages after the eviction boundary one context read returns (the newest); the agent
    loop summarises what a read left out (``AGENTSUITE_CONTEXT_MAX_MESSAGES``; 0 = no cap)."""
    internal_token: str | None = field(default=None, repr=False)
    """Token backends present to the gateway when they call its public API on a tenant's behalf (agents
    messaging agents) (``AGENTSUITE_INTERNAL_TOKEN``); unset means a file ``internal.token`` (mode 0600)
    generated in ``state_dir``. Never logged."""
    max_call_depth: int = 5
    """Longest agent-to-agent call chain (``AGENTSUITE_MAX_CALL_DEPTH``)."""
    lease_ttl_seconds: float = 10.0
    """Gateway: how long an agent's lease lasts without renewal (``AGENTSUITE_LEASE_TTL_SECONDS``); a
    gateway that dies or stalls hands its agents over after this long. Renewed every third of it."""
    lane_linger_seconds: float = 2.0
    """Gateway: how long an idle lane keeps its agent's lease, so the next message needs no new
    acquisition (``AGENTSUITE_LANE_LINGER_SECONDS``)."""
    max_queued_runs: int = 256
    """Gateway: runs one agent may have queued before RESOURCE_EXHAUSTED (``AGENTSUITE_MAX_QUEUED_RUNS``)."""
    heartbeat_seconds: float = 10.0
    """Gateway: a run's stream gets a heartbeat event after this long without events
    (``AGENTSUITE_HEARTBEAT_SECONDS``)."""
    run_timeout_seconds: float = 600.0
    """Gateway: the longest a run may execute (``AGENTSUITE_RUN_TIMEOUT_SECONDS``); it outlives the
    client's deadline (the client polls or resumes)."""
    secrets_key: str | None = field(default=None, repr=False)
    """Tools service: base64url AES-256 key that encrypts tool secrets (``AGENTSUITE_SECRETS_KEY``);
    unset means a key file ``secrets.key`` (mode 0600) generated in ``state_dir``. Never logged."""
    tools_allow_unsandboxed: bool = False
    """Tools service: run tools WITHOUT bubblewrap when it cannot run (``AGENTSUITE_TOOLS_ALLOW_UNSANDBOXED``).
    Off by default: without bubblewrap the service refuses to execute. Only for trusted code."""
    tools_python: str = ""
    """Tools service: the interpreter tools run with, stdlib only (``AGENTSUITE_TOOLS_PYTHON``); empty
    means ``/usr/bin/python3`` when present, else the service's own base interpreter."""
    tools_max_concurrent: int = 8
    """Tools service: executions running at once (``AGENTSUITE_TOOLS_MAX_CONCURRENT``)."""
    tools_max_queued: int = 64
    """Tools service: executions waiting for a slot before RESOURCE_EXHAUSTED (``AGENTSUITE_TOOLS_MAX_QUEUED``)."""
    tools_default_timeout_seconds: float = 30.0
    """Tools service: wall-clock limit of a call when the tool sets none (``AGENTSUITE_TOOLS_DEFAULT_TIMEOUT_SECONDS``)."""
    tools_max_timeout_seconds: float = 300.0
    """Tools service: the largest timeout a tool may ask for (``AGENTSUITE_TOOLS_MAX_TIMEOUT_SECONDS``)."""
    tools_cpu_seconds: int = 10
    """Tools service: CPU seconds per call, RLIMIT_CPU (``AGENTSUITE_TOOLS_CPU_SECONDS``)."""
    tools_memory_mb: int = 512
    """Tools service: address space per process, RLIMIT_AS (``AGENTSUITE_TOOLS_MEMORY_MB``)."""
    tools_max_processes: int = 16
    """Tools service: processes per sandbox, RLIMIT_NPROC (``AGENTSUITE_TOOLS_MAX_PROCESSES``)."""
    tools_file_size_mb: int = 16
    """Tools service: largest file a tool may write, RLIMIT_FSIZE, and the size of its private /tmp
    (``AGENTSUITE_TOOLS_FILE_SIZE_MB``)."""
    tools_max_open_files: int = 256
    """Tools service: file descriptors per sandboxed process, RLIMIT_NOFILE (``AGENTSUITE_TOOLS_MAX_OPEN_FILES``)."""
    tools_output_limit_bytes: int = 64 * 1024
    """Tools service: stdout and stderr kept per call, each (``AGENTSUITE_TOOLS_OUTPUT_LIMIT_BYTES``)."""
    tools_result_char_limit: int = 10_000
    """Tools service: result characters returned when a tool sets no limit (``AGENTSUITE_TOOLS_RESULT_CHAR_LIMIT``)."""
    tools_warm_sandboxes: int = 2
    """Tools service: sandboxes kept started and waiting for one call each (``AGENTSUITE_TOOLS_WARM_SANDBOXES``)."""
    default_embedder: str = "local"
    """Embedder of archives created without one (``AGENTSUITE_DEFAULT_EMBEDDER``): local, openai, minilm."""
    embedding_model: str | None = None
    """Model of the OpenAI-compatible embedder (``AGENTSUITE_EMBEDDING_MODEL``); unset = no ``openai``
    embedder."""
    embedding_base_url: str | None = None
    """``/v1`` URL of the embedding provider (``AGENTSUITE_EMBEDDING_BASE_URL``); unset = the OpenAI
    base URL above, else https://api.openai.com/v1."""
    embedding_api_key: str | None = field(default=None, repr=False)
    """Key of the embedding provider (``AGENTSUITE_EMBEDDING_API_KEY``); unset = ``OPENAI_API_KEY``.
    Never logged."""
    embedding_dimension: int = 1536
    """Dimension of the provider's vectors (``AGENTSUITE_EMBEDDING_DIMENSION``); also sent as
    ``dimensions`` when ``embedding_send_dimensions`` is on."""
    embedding_send_dimensions: bool = False
    """Send ``dimensions`` in requests (``AGENTSUITE_EMBEDDING_SEND_DIMENSIONS``): OpenAI's
    text-embedding-3 models shorten their vectors on request; other servers may refuse the field."""
    embedding_batch_size: int = 256
    """Texts per ``/v1/embeddings`` request (``AGENTSUITE_EMBEDDING_BATCH_SIZE``)."""
    archive_index_min_rows: int = 20_000
    """Archives with at least this many passages get an HNSW index, built in bulk in the background;
    smaller ones are searched exactly (``AGENTSUITE_ARCHIVE_INDEX_MIN_ROWS``)."""
    archive_index_build_memory: str = "1GB"
    """``maintenance_work_mem`` of an index build (``AGENTSUITE_ARCHIVE_INDEX_BUILD_MEMORY``): pgvector
    builds fast while the graph fits (~2 kB per 384-d passage), much slower once it does not."""
    archive_index_settle_seconds: float = 2.0
    """How long an archive must go without inserts before a small tail is worth a rebuild of its
    index (``AGENTSUITE_ARCHIVE_INDEX_SETTLE_SECONDS``; see ``services/memory/core/index_policy.py``)."""

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings of ``service`` from ``env`` (the process environment by default)."""
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            service=service,
            host=reader.text("AGENTSUITE_HOST", "127.0.0.1"),
            port=reader.integer("AGENTSUITE_PORT", DEFAULT_PORTS.get(service, 0)),
            gateway_addr=reader.text("AGENTSUITE_GATEWAY_ADDR", "127.0.0.1:50051"),
            agent_addr=reader.text("AGENTSUITE_AGENT_ADDR", "127.0.0.1:50052"),
            memory_addr=reader.text("AGENTSUITE_MEMORY_ADDR", "127.0.0.1:50053"),
            tools_addr=reader.text("AGENTSUITE_TOOLS_ADDR", "127.0.0.1:50054"),
            database_url=reader.optional("DATABASE_URL"),
            database_direct_url=reader.optional("AGENTSUITE_DATABASE_DIRECT_URL"),
            db_transaction_pooler=reader.boolean(
                "AGENTSUITE_DB_TRANSACTION_POOLER",
                _names_another(
                    reader.optional("AGENTSUITE_DATABASE_DIRECT_URL"), reader.optional("DATABASE_URL")
                ),
            ),
            state_dir=Path(reader.text("AGENTSUITE_STATE_DIR", str(default_state_dir()))),
            db_pool_size=reader.integer("AGENTSUITE_DB_POOL_SIZE", 20),
            db_statement_timeout_ms=reader.integer("AGENTSUITE_DB_STATEMENT_TIMEOUT_MS", 30_000),
            tls_cert_file=reader.path("AGENTSUITE_TLS_CERT_FILE"),
            tls_key_file=reader.path("AGENTSUITE_TLS_KEY_FILE"),
            tls_ca_file=reader.path("AGENTSUITE_TLS_CA_FILE"),
            tls_require_client_cert=reader.boolean("AGENTSUITE_TLS_REQUIRE_CLIENT_CERT", False),
            log_level=reader.text("AGENTSUITE_LOG_LEVEL", "INFO").upper(),
            tracing=reader.boolean("AGENTSUITE_TRACING", True),
            metrics_port=reader.integer("AGENTSUITE_METRICS_PORT", 0) or None,
            metrics_host=reader.text("AGENTSUITE_METRICS_HOST", "127.0.0.1"),
            max_message_bytes=reader.integer("AGENTSUITE_MAX_MESSAGE_BYTES", 64 * 1024 * 1024),
            keepalive_time_ms=reader.integer("AGENTSUITE_KEEPALIVE_TIME_MS", 20_000),
            drain_seconds=reader.number("AGENTSUITE_DRAIN_SECONDS", 0.0),
            grace_seconds=reader.number("AGENTSUITE_GRACE_SECONDS", 10.0),
            default_deadline_seconds=reader.number("AGENTSUITE_DEFAULT_DEADLINE_SECONDS", 30.0),
            openai_base_url=reader.optional("AGENTSUITE_OPENAI_BASE_URL")
            or reader.optional("OPENAI_BASE_URL"),
            openai_api_key=reader.optional("OPENAI_API_KEY"),
            default_model=reader.optional("AGENTSUITE_MODEL"),
            context_max_messages=reader.integer("AGENTSUITE_CONTEXT_MAX_MESSAGES", 100),
            internal_token=reader.optional("AGENTSUITE_INTERNAL_TOKEN"),
            max_call_depth=reader.integer("AGENTSUITE_MAX_CALL_DEPTH", 5),
            lease_ttl_seconds=reader.number("AGENTSUITE_LEASE_TTL_SECONDS", 10.0),
            lane_linger_seconds=reader.number("AGENTSUITE_LANE_LINGER_SECONDS", 2.0),
            max_queued_runs=reader.integer("AGENTSUITE_MAX_QUEUED_RUNS", 256),
            heartbeat_seconds=reader.number("AGENTSUITE_HEARTBEAT_SECONDS", 10.0),
            run_timeout_seconds=reader.number("AGENTSUITE_RUN_TIMEOUT_SECONDS", 600.0),
            secrets_key=reader.optional("AGENTSUITE_SECRETS_KEY"),
            tools_allow_unsandboxed=reader.boolean("AGENTSUITE_TOOLS_ALLOW_UNSANDBOXED", False),
            tools_python=reader.text("AGENTSUITE_TOOLS_PYTHON", ""),
            tools_max_concurrent=reader.integer("AGENTSUITE_TOOLS_MAX_CONCURRENT", 8),
            tools_max_queued=reader.integer("AGENTSUITE_TOOLS_MAX_QUEUED", 64),
            tools_default_timeout_seconds=reader.number("AGENTSUITE_TOOLS_DEFAULT_TIMEOUT_SECONDS", 30.0),
            tools_max_timeout_seconds=reader.number("AGENTSUITE_TOOLS_MAX_TIMEOUT_SECONDS", 300.0),
            tools_cpu_seconds=reader.integer("AGENTSUITE_TOOLS_CPU_SECONDS", 10),
            tools_memory_mb=reader.integer("AGENTSUITE_TOOLS_MEMORY_MB", 512),
            tools_max_processes=reader.integer("AGENTSUITE_TOOLS_MAX_PROCESSES", 16),
            tools_file_size_mb=reader.integer("AGENTSUITE_TOOLS_FILE_SIZE_MB", 16),
            tools_max_open_files=reader.integer("AGENTSUITE_TOOLS_MAX_OPEN_FILES", 256),
            tools_output_limit_bytes=reader.integer("AGENTSUITE_TOOLS_OUTPUT_LIMIT_BYTES", 64 * 1024),
            tools_result_char_limit=reader.integer("AGENTSUITE_TOOLS_RESULT_CHAR_LIMIT", 10_000),
            tools_warm_sandboxes=reader.integer("AGENTSUITE_TOOLS_WARM_SANDBOXES", 2),
            default_embedder=reader.text("AGENTSUITE_DEFAULT_EMBEDDER", "local"),
            embedding_model=reader.optional("AGENTSUITE_EMBEDDING_MODEL"),
            embedding_base_url=reader.optional("AGENTSUITE_EMBEDDING_BASE_URL"),
            embedding_api_key=reader.optional("AGENTSUITE_EMBEDDING_API_KEY"),
            embedding_dimension=reader.integer("AGENTSUITE_EMBEDDING_DIMENSION", 1536),
            embedding_send_dimensions=reader.boolean("AGENTSUITE_EMBEDDING_SEND_DIMENSIONS", False),
            embedding_batch_size=reader.integer("AGENTSUITE_EMBEDDING_BATCH_SIZE", 256),
            archive_index_min_rows=reader.integer("AGENTSUITE_ARCHIVE_INDEX_MIN_ROWS", 20_000),
            archive_index_build_memory=reader.text("AGENTSUITE_ARCHIVE_INDEX_BUILD_MEMORY", "1GB"),
            archive_index_settle_seconds=reader.number("AGENTSUITE_ARCHIVE_INDEX_SETTLE_SECONDS", 2.0),
        )
        if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
            reader.problem(
                "AGENTSUITE_TLS_CERT_FILE and AGENTSUITE_TLS_KEY_FILE go together: set both or neither"
            )
        if settings.tls_require_client_cert and (
            settings.tls_ca_file is None or settings.tls_cert_file is None
        ):
            reader.problem(
                "AGENTSUITE_TLS_REQUIRE_CLIENT_CERT needs AGENTSUITE_TLS_CA_FILE (to verify callers) and "
                "AGENTSUITE_TLS_CERT_FILE/KEY_FILE (to serve TLS)"
            )
        reader.raise_if_bad()
        return settings

    @property
    def listen_address(self) -> str:
        """``host:port`` in the form grpc's ``add_insecure_port`` expects."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _names_another(direct_url: str | None, url: str | None) -> bool:
    return direct_url is not None and direct_url != url


class _Reader:
    """Reads typed values and collects every malformed one, so one start-up names them all."""

    def __init__(self, env: Mapping[str, str]):
        self._env = env
        self._problems: list[str] = []

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def integer(self, name: str, default: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self._problems.append(f"{name}={raw!r} is not an integer")
            return default
        if value < 0:
            self._problems.append(f"{name}={raw!r} must not be negative")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            self._problems.append(f"{name}={raw!r} is not a number")
            return default

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        self._problems.append(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")
        return default

    def path(self, name: str) -> Path | None:
        """A file that must exist and be readable."""
        raw = self.optional(name)
        if raw is None:
            return None
        path = Path(raw)
        if not os.access(path, os.R_OK) or not path.is_file():
            self._problems.append(f"{name}={raw!r} is not a readable file")
        return path

    def problem(self, message: str) -> None:
        self._problems.append(message)

    def raise_if_bad(self) -> None:
        if self._problems:
            raise SettingsError("bad environment: " + "; ".join(self._problems))
