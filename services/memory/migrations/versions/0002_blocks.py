"""Core memory blocks with their history, and full-text search over messages.

Revision ID: 0002_blocks
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID

revision = "0002_blocks"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "memory"


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column(
            "search",
            TSVECTOR,
            sa.Computed("to_tsvector('english'::regconfig, content)", persisted=True),
            comment="recall full-text search",
        ),
        schema=SCHEMA,
    )
    op.create_index("messages_search", "messages", ["search"], postgresql_using="gin", schema=SCHEMA)
    op.create_table(
        "blocks",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False, server_default=""),
        sa.Column("char_limit", sa.Integer, nullable=False),
        sa.Column("read_only", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("blocks_tenant_label", "blocks", ["tenant", "label"], schema=SCHEMA)
    op.create_table(
        "block_agents",
        sa.Column(
            "block_id",
            UUID(as_uuid=False),
            sa.ForeignKey(f"{SCHEMA}.blocks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("agent_id", UUID(as_uuid=False), nullable=False),
        sa.Column(
            "label",
            sa.Text,
            nullable=False,
            comment="the block's label, kept here so it is unique per agent",
        ),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("block_id", "agent_id", name="block_agents_pkey"),
        sa.UniqueConstraint("agent_id", "label", name="block_agents_agent_label"),
        schema=SCHEMA,
        comment="which agents a block is attached to (a block may be shared)",
    )
    op.create_table(
        "block_history",
        sa.Column(
            "block_id",
            UUID(as_uuid=False),
            sa.ForeignKey(f"{SCHEMA}.blocks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("value_before", sa.Text, nullable=False),
        sa.Column("value_after", sa.Text, nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False, server_default=""),
        sa.Column("run_id", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("block_id", "version", name="block_history_pkey"),
        schema=SCHEMA,
        comment="every version of every block, so any past value can be restored",
    )


def downgrade() -> None:
    op.drop_table("block_history", schema=SCHEMA)
    op.drop_table("block_agents", schema=SCHEMA)
    op.drop_index("blocks_tenant_label", table_name="blocks", schema=SCHEMA)
    op.drop_table("blocks", schema=SCHEMA)
    op.drop_index("messages_search", table_name="messages", schema=SCHEMA)
    op.drop_column("messages", "search", schema=SCHEMA)
