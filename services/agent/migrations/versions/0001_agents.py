"""Agents.

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

SCHEMA = "agent"


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("system_prompt", sa.Text, nullable=False, server_default=""),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("context_window", sa.Integer, nullable=False),
        sa.Column("temperature", sa.Float, nullable=True),
        sa.Column("max_output_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("tool_ids", sa.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("tool_rules", JSONB, nullable=False, server_default="[]"),
        sa.Column("tags", sa.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("metadata", JSONB, nullable=False, server_default="{}"),
        sa.Column("max_steps", sa.Integer, nullable=False, server_default="0"),
        sa.Column("archive_id", sa.Text, nullable=False, server_default=""),
        sa.Column("request_id", sa.Text, nullable=True, comment="the creating request's idempotency key"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("agents_tenant_created", "agents", ["tenant", "created_at", "id"], schema=SCHEMA)
    op.create_index("agents_tags", "agents", ["tags"], postgresql_using="gin", schema=SCHEMA)
    op.create_index("agents_request", "agents", ["tenant", "request_id"], unique=True, schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("agents", schema=SCHEMA)
