"""The ``memory`` schema. Migrations in ``services/memory/migrations`` create exactly these tables."""

from __future__ import annotations

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

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
    Column(
        "epoch",
        BigInteger,
        nullable=False,
        server_default="0",
        comment="fencing epoch of the lease the message was stored under (0: not by a run)",
    ),
    Column(
        "search",
        TSVECTOR,
        Computed("to_tsvector('english'::regconfig, content)", persisted=True),
        comment="recall full-text search",
    ),
    Index("messages_agent_seq", "agent_id", "seq", unique=True),
    Index("messages_search", "search", postgresql_using="gin"),
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

effects = Table(
    "effects",
    metadata,
    Column("tenant", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("agent_id", Text, nullable=False, server_default=""),
    Column(
        "outcome",
        ARRAY(Text),
        nullable=False,
        comment="what the effect made: the edited block's id, or the inserted passages' ids",
    ),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant", "idempotency_key", name="effects_pkey"),
    Index("effects_agent", "agent_id"),
    comment="keyed block edits and passage inserts, each applied once",
)

# --- core memory blocks ------------------------------------------------------------------------

blocks = Table(
    "blocks",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("label", Text, nullable=False),
    Column("value", Text, nullable=False, server_default=""),
    Column("char_limit", Integer, nullable=False),
    Column("read_only", Boolean, nullable=False, server_default="false"),
    Column("description", Text, nullable=False, server_default=""),
    Column("metadata", JSONB, nullable=False, server_default="{}"),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("blocks_tenant_label", "tenant", "label"),
)

block_agents = Table(
    "block_agents",
    metadata,
    Column("block_id", UUID(as_uuid=False), ForeignKey("blocks.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", UUID(as_uuid=False), nullable=False),
    Column("label", Text, nullable=False, comment="the block's label, kept here so it is unique per agent"),
    Column("attached_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("block_id", "agent_id", name="block_agents_pkey"),
    UniqueConstraint("agent_id", "label", name="block_agents_agent_label"),
    comment="which agents a block is attached to (a block may be shared)",
)

block_history = Table(
    "block_history",
    metadata,
    Column("block_id", UUID(as_uuid=False), ForeignKey("blocks.id", ondelete="CASCADE"), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("value_before", Text, nullable=False),
    Column("value_after", Text, nullable=False),
    Column("agent_id", Text, nullable=False, server_default=""),
    Column("run_id", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("block_id", "version", name="block_history_pkey"),
    comment="every version of every block, so any past value can be restored",
)


# --- Archival memory: archives, their agents, passages, exact per-archive counts, vector indexes ------
#
# The embedding column is an untyped ``vector`` because the dimension is chosen per archive. A small
# archive is searched exactly. A large one gets its own partial HNSW index over
# ``embedding::vector(<d>)`` for its passages up to an ordinal, built in bulk in the background and
# replaced as the archive grows (``services.memory.store.archive_index``); those indexes are made at
# run time, so they are not declared here.

archives = Table(
    "archives",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("embedder", Text, nullable=False),
    Column("dimension", Integer, nullable=False),
    Column("passage_count", BigInteger, nullable=False, server_default="0", comment="kept exact on write"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_insert_at", DateTime(timezone=True), nullable=True, comment="the indexer waits for quiet"),
    Index("archives_tenant_created", "tenant", "created_at", "id"),
)

archive_agents = Table(
    "archive_agents",
    metadata,
    Column("archive_id", UUID(as_uuid=False), ForeignKey("archives.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", UUID(as_uuid=False), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("archive_id", "agent_id", name="archive_agents_pkey"),
    Index("archive_agents_agent", "agent_id"),
)

passages = Table(
    "passages",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("archive_id", UUID(as_uuid=False), ForeignKey("archives.id", ondelete="CASCADE"), nullable=False),
    Column(
        "ordinal",
        BigInteger,
        Identity(always=True),
        nullable=False,
        comment="insertion order; an archive's HNSW index covers its passages up to one ordinal",
    ),
    Column("text", Text, nullable=False),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("metadata", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("embedding", VECTOR(), nullable=False),
    Column("text_search", TSVECTOR, Computed("to_tsvector('english'::regconfig, text)", persisted=True)),
    Index("passages_archive_created", "archive_id", "created_at", "id"),
    Index("passages_archive_ordinal", "archive_id", "ordinal"),
    Index("passages_tags", "tags", postgresql_using="gin", postgresql_with={"gin_pending_list_limit": 512}),
    Index(
        "passages_text_search",
        "text_search",
        postgresql_using="gin",
        postgresql_with={"gin_pending_list_limit": 512},
    ),
)

archive_tags = Table(
    "archive_tags",
    metadata,
    Column("archive_id", UUID(as_uuid=False), ForeignKey("archives.id", ondelete="CASCADE"), nullable=False),
    Column("tag", Text, nullable=False),
    Column("passage_count", BigInteger, nullable=False),
    PrimaryKeyConstraint("archive_id", "tag", name="archive_tags_pkey"),
    comment="passages per tag of each archive, kept exact on write; a tag at zero has no row",
)

archive_indexes = Table(
    "archive_indexes",
    metadata,
    Column(
        "archive_id", UUID(as_uuid=False), ForeignKey("archives.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("index_name", Text, nullable=False),
    Column("indexed_through", BigInteger, nullable=False, comment="covers the passages with ordinal <= this"),
    Column("indexed_rows", BigInteger, nullable=False),
    Column("built_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="the live HNSW index of each large archive; its passages after indexed_through are searched exactly",
)
