"""The ``agent`` schema. Migrations in ``services/agent/migrations`` create exactly these tables."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Index, Integer, MetaData, Table, Text, func

# The PostgreSQL ARRAY, not the generic one: only it has contains()/overlap() for the tag filters.
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

SCHEMA = "agent"
metadata = MetaData(schema=SCHEMA)

agents = Table(
    "agents",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("system_prompt", Text, nullable=False, server_default=""),
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("context_window", Integer, nullable=False),
    Column("temperature", Float, nullable=True),
    Column("max_output_tokens", Integer, nullable=False, server_default="0"),
    Column("tool_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("tool_rules", JSONB, nullable=False, server_default="[]"),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("metadata", JSONB, nullable=False, server_default="{}"),
    Column("max_steps", Integer, nullable=False, server_default="0"),
    Column("archive_id", Text, nullable=False, server_default=""),
    Column("request_id", Text, nullable=True, comment="the creating request's idempotency key"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("agents_tenant_created", "tenant", "created_at", "id"),
    Index("agents_tags", "tags", postgresql_using="gin"),
    Index("agents_request", "tenant", "request_id", unique=True),
)
