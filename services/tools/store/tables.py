"""The ``tools`` schema. Migrations in ``services/tools/migrations`` create exactly these tables."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)

# The PostgreSQL ARRAY, not the generic one: only it has overlap() for the tag filter.
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

SCHEMA = "tools"
metadata = MetaData(schema=SCHEMA)

tools = Table(
    "tools",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("source_code", Text, nullable=False),
    Column("function_name", Text, nullable=False),
    Column("json_schema", JSONB, nullable=False),
    Column("parallel_safe", Boolean, nullable=False, server_default="false"),
    Column("requires_approval", Boolean, nullable=False, server_default="false"),
    Column("result_char_limit", Integer, nullable=False, server_default="0"),
    Column("timeout_ms", Integer, nullable=True, comment="null: the service's default"),
    Column("secret_names", ARRAY(Text), nullable=False, server_default="{}"),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("tools_tenant_name", "tenant", "name", unique=True),
    Index("tools_tags", "tags", postgresql_using="gin"),
)

secrets = Table(
    "secrets",
    metadata,
    Column("tenant", Text, nullable=False),
    Column("agent_id", Text, nullable=False, comment="empty: tenant-wide"),
    Column("name", Text, nullable=False),
    Column("sealed", LargeBinary, nullable=False, comment="AES-256-GCM nonce || ciphertext"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant", "agent_id", "name", name="secrets_pkey"),
)

executions = Table(
    "executions",
    metadata,
    Column("tenant", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("tool_id", Text, nullable=False),
    Column(
        "claimed_until",
        DateTime(timezone=True),
        nullable=False,
        comment="while the result is null, the claimant may still be executing until then",
    ),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column(
        "result",
        Text,
        nullable=True,
        comment="the result as JSON text (it may hold any character); null: not finished",
    ),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant", "idempotency_key", name="executions_pkey"),
    Index("executions_created", "created_at"),
    comment="tool calls made with an idempotency key: executed once, answered from here after",
)
