"""Messages with per-agent sequence numbers, fencing state and idempotent appends.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "memory"


def upgrade() -> None:
    # pgvector lives in the public schema so every service schema can use the type.
    op.execute("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
    op.create_table(
        "agent_state",
        sa.Column("agent_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column(
            "last_seq", sa.BigInteger, nullable=False, server_default="0", comment="highest message seq"
        ),
        sa.Column(
            "max_epoch",
            sa.BigInteger,
            nullable=False,
            server_default="0",
            comment="fencing: highest epoch seen",
        ),
        sa.Column(
            "boundary_seq",
            sa.BigInteger,
            nullable=False,
            server_default="0",
            comment="messages <= this are evicted",
        ),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_table(
        "messages",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("agent_id", UUID(as_uuid=False), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("role", sa.Integer, nullable=False, comment="common.v1.MessageRole number"),
        sa.Column("content", sa.Text, nullable=False, server_default=""),
        sa.Column("reasoning", sa.Text, nullable=False, server_default=""),
        sa.Column("tool_calls", JSONB, nullable=False, server_default="[]"),
        sa.Column("tool_call_id", sa.Text, nullable=False, server_default=""),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("run_id", sa.Text, nullable=False, server_default=""),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("messages_agent_seq", "messages", ["agent_id", "seq"], unique=True, schema=SCHEMA)
    op.create_table(
        "appends",
        sa.Column("agent_id", UUID(as_uuid=False), nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("agent_id", "idempotency_key", name="appends_pkey"),
        schema=SCHEMA,
        comment="one row per accepted append: a retried append with the same key is answered from here",
    )


def downgrade() -> None:
    op.drop_table("appends", schema=SCHEMA)
    op.drop_index("messages_agent_seq", table_name="messages", schema=SCHEMA)
    op.drop_table("messages", schema=SCHEMA)
    op.drop_table("agent_state", schema=SCHEMA)
