"""Archival memory: archives, their agents, passages with embeddings and full text, tag counts and the
record of each large archive's HNSW index.

The HNSW indexes themselves are made at run time (``services.memory.store.archive_index``);
downgrade drops them with the table.

Revision ID: 0003_archival
Revises: 0002_blocks
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

revision = "0003_archival"
down_revision = "0002_blocks"
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
        sa.Column(
            "last_insert_at", sa.DateTime(timezone=True), nullable=True, comment="the indexer waits for quiet"
        ),
        schema=SCHEMA,
    )
    op.create_index("archives_tenant_created", "archives", ["tenant", "created_at", "id"], schema=SCHEMA)
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
        sa.Column(
            "ordinal",
            sa.BigInteger,
            sa.Identity(always=True),
            nullable=False,
            comment="insertion order; an archive's HNSW index covers its passages up to one ordinal",
        ),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("embedding", VECTOR(), nullable=False),
        sa.Column(
            "text_search",
            TSVECTOR,
            sa.Computed("to_tsvector('english'::regconfig, text)", persisted=True),
        ),
        schema=SCHEMA,
    )
    # pgvector's type defaults to EXTERNAL storage, so with the text beside it a 384-d vector is moved
    # out of line to TOAST, and every exact distance then reads the TOAST table (3x slower, measured).
    # MAIN keeps it in the row unless nothing else can make room.
    op.execute(f"ALTER TABLE {SCHEMA}.passages ALTER COLUMN embedding SET STORAGE MAIN")
    # A row (a 384-d vector is 1.5 kB, plus text and tsvector) often passes the 2 kB default at which
    # Postgres starts compressing and moving values out of line; full-text ranking then fetched every
    # tsvector from TOAST (2x the time, measured). Rows up to 4 kB now stay whole in the heap page.
    op.execute(f"ALTER TABLE {SCHEMA}.passages SET (toast_tuple_target = 4080)")
    op.create_index("passages_archive_created", "passages", ["archive_id", "created_at", "id"], schema=SCHEMA)
    op.create_index("passages_archive_ordinal", "passages", ["archive_id", "ordinal"], schema=SCHEMA)
    # A GIN index collects new entries in a pending list that every search scans linearly; after a
    # bulk insert the default 4 MB list cost searches ~4 ms each. 512 kB keeps most of the batching.
    op.create_index(
        "passages_tags",
        "passages",
        ["tags"],
        postgresql_using="gin",
        postgresql_with={"gin_pending_list_limit": 512},
        schema=SCHEMA,
    )
    op.create_index(
        "passages_text_search",
        "passages",
        ["text_search"],
        postgresql_using="gin",
        postgresql_with={"gin_pending_list_limit": 512},
        schema=SCHEMA,
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
    op.create_table(
        "archive_indexes",
        sa.Column("archive_id", UUID(as_uuid=False), _archive_fk(), primary_key=True),
        sa.Column("index_name", sa.Text, nullable=False),
        sa.Column(
            "indexed_through",
            sa.BigInteger,
            nullable=False,
            comment="covers the passages with ordinal <= this",
        ),
        sa.Column("indexed_rows", sa.BigInteger, nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
        comment="the live HNSW index of each large archive; its passages after indexed_through are searched exactly",
    )


def downgrade() -> None:
    op.drop_table("archive_indexes", schema=SCHEMA)
    op.drop_table("archive_tags", schema=SCHEMA)
    op.drop_table("passages", schema=SCHEMA)
    op.drop_table("archive_agents", schema=SCHEMA)
    op.drop_table("archives", schema=SCHEMA)
