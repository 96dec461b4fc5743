"""The ``gateway`` schema. Migrations in ``services/gateway/migrations`` create exactly these tables."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, MetaData, Table, Text, func
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
