"""The ``gateway`` schema. Migrations in ``services/gateway/migrations`` create exactly these tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

SCHEMA = "gateway"
metadata = MetaData(schema=SCHEMA)

tenants = Table(
    "tenants",
    metadata,
    Column("id", Text, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant", Text, ForeignKey("gateway.tenants.id"), nullable=False),
    Column("prefix", Text, nullable=False, comment="first characters of the key, to recognise it"),
    Column(
        "key_hash",
        Text,
        nullable=False,
        unique=True,
        comment="sha256 of the whole key; the key is never stored",
    ),
    Column("name", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# Runs: every accepted message, durable before the client hears "accepted".
runs = Table(
    "runs",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column(
        "lane_seq",
        BigInteger,
        Identity(always=False),
        nullable=False,
        comment="acceptance order: a lane runs its agent's runs by ascending lane_seq",
    ),
    Column("tenant", Text, nullable=False),
    Column("agent_id", Text, nullable=False),
    Column("status", SmallInteger, nullable=False, comment="agentsuite.gateway.v1.RunStatus"),
    Column("priority", SmallInteger, nullable=False, server_default="0", comment="1 = interrupting run"),
    Column("idempotency_key", Text, nullable=True),
    Column(
        "step_request",
        LargeBinary,
        nullable=False,
        comment="serialized AgentRuntime StepRequest: input, max_steps, approvals",
    ),
    Column("deltas", Boolean, nullable=False, server_default="true", comment="stream text deltas"),
    Column("call_chain", Text, nullable=False, server_default="", comment="agent ids, oldest first"),
    Column("parent_run_id", Text, nullable=True, comment="the sending agent's run"),
    Column("epoch", BigInteger, nullable=False, server_default="0", comment="lease epoch it runs under"),
    Column("cancel_requested", Boolean, nullable=False, server_default="false"),
    Column("stop_reason", SmallInteger, nullable=False, server_default="0"),
    Column("stop_detail", Text, nullable=False, server_default=""),
    Column("result", LargeBinary, nullable=True, comment="serialized Run: usage and pending approvals"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Index(
        "runs_idempotency_key",
        "tenant",
        "agent_id",
        "idempotency_key",
        unique=True,
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
    Index("runs_by_agent", "tenant", "agent_id", "lane_seq"),
    Index("runs_by_tenant", "tenant", "lane_seq"),
    Index(
        "runs_unfinished",
        "tenant",
        "agent_id",
        "lane_seq",
        postgresql_where=text("status IN (1, 2, 6)"),
    ),
)

# The step-level events of runs, replayed on resume. No foreign key: every statement that stores an
# event reads its run in the same statement (and checks its epoch), and runs are never deleted.
run_events = Table(
    "run_events",
    metadata,
    Column("run_id", UUID(as_uuid=False), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("event", LargeBinary, nullable=False, comment="serialized agentsuite.gateway.v1.RunEvent"),
)

# One lease per agent: who may execute its runs, under which fencing epoch, until when.
agent_leases = Table(
    "agent_leases",
    metadata,
    Column("tenant", Text, primary_key=True),
    Column("agent_id", Text, primary_key=True),
    Column("holder", Text, nullable=True, comment="gateway process holding it; NULL when released"),
    Column("epoch", BigInteger, nullable=False, comment="increases at every acquisition"),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
