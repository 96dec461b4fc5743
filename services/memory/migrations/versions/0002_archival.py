"""Archival memory: archives, their agents, passages with embeddings and full text, tag counts.

The per-dimension HNSW indexes on ``passages`` are made at run time, when the first archive of a
dimension is created (see ``services.memory.store.vectors``); downgrade drops them with the table.

Revision ID: 0002_archival
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

revision = "0002_archival"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "memory"


def _archive_fk() -> sa.ForeignKey:
    return sa.ForeignKey(f"{SCHEMA}.archives.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "archives",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("embedder", sa.Text, nullable=False),
        sa.Column("dimension", sa.Integer, nullable=False),
        sa.Column(
            "passage_count", sa.BigInteger, nullable=False, server_default="0", comment="kept exact on write"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("archives_tenant_created", "archives", ["tenant", "created_at", "id"], schema=SCHEMA)
    op.create_index("archives_dimension", "archives", ["dimension"], schema=SCHEMA)
    op.create_table(
        "archive_agents",
        sa.Column("archive_id", UUID(as_uuid=False), _archive_fk(), nullable=False),
        sa.Column("agent_id", UUID(as_uuid=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("archive_id", "agent_id", name="archive_agents_pkey"),
        schema=SCHEMA,
    )
    op.create_index("archive_agents_agent", "archive_agents", ["agent_id"], schema=SCHEMA)
    op.create_table(
        "passages",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("archive_id", UUID(as_uuid=False), _archive_fk(), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column(
            "dimension",
            sa.Integer,
            nullable=False,
            comment="selects the partial HNSW index of this size",
        ),
        sa.Column("embedding", VECTOR(), nullable=False),
        sa.Column(
            "text_search",
            TSVECTOR,
            sa.Computed("to_tsvector('english'::regconfig, text)", persisted=True),
        ),
        schema=SCHEMA,
    )
    op.create_index("passages_archive_created", "passages", ["archive_id", "created_at", "id"], schema=SCHEMA)
    op.create_index("passages_tags", "passages", ["tags"], postgresql_using="gin", schema=SCHEMA)
    op.create_index(
        "passages_text_search", "passages", ["text_search"], postgresql_using="gin", schema=SCHEMA
    )
    op.create_table(
        "archive_tags",
        sa.Column("archive_id", UUID(as_uuid=False), _archive_fk(), nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
        sa.Column("passage_count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("archive_id", "tag", name="archive_tags_pkey"),
        schema=SCHEMA,
        comment="passages per tag of each archive, kept exact on write; a tag at zero has no row",
    )


def downgrade() -> None:
    op.drop_table("archive_tags", schema=SCHEMA)
    op.drop_table("passages", schema=SCHEMA)
    op.drop_table("archive_agents", schema=SCHEMA)
    op.drop_table("archives", schema=SCHEMA)
