"""The ``memory`` schema. Migrations in ``services/memory/migrations`` create exactly these tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

SCHEMA = "memory"
metadata = MetaData(schema=SCHEMA)

agent_state = Table(
    "agent_state",
    metadata,
    Column("agent_id", UUID(as_uuid=False), primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("last_seq", BigInteger, nullable=False, server_default="0", comment="highest message seq"),
    Column(
        "max_epoch", BigInteger, nullable=False, server_default="0", comment="fencing: highest epoch seen"
    ),
    Column(
        "boundary_seq", BigInteger, nullable=False, server_default="0", comment="messages <= this are evicted"
    ),
    Column("summary", Text, nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

messages = Table(
    "messages",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("agent_id", UUID(as_uuid=False), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("role", Integer, nullable=False, comment="common.v1.MessageRole number"),
    Column("content", Text, nullable=False, server_default=""),
    Column("reasoning", Text, nullable=False, server_default=""),
    Column("tool_calls", JSONB, nullable=False, server_default="[]"),
    Column("tool_call_id", Text, nullable=False, server_default=""),
    Column("name", Text, nullable=False, server_default=""),
    Column("run_id", Text, nullable=False, server_default=""),
    Column("step", Integer, nullable=False, server_default="0"),
    Column("metadata", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("messages_agent_seq", "agent_id", "seq", unique=True),
)

appends = Table(
    "appends",
    metadata,
    Column("agent_id", UUID(as_uuid=False), nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("agent_id", "idempotency_key", name="appends_pkey"),
    comment="one row per accepted append: a retried append with the same key is answered from here",
)
