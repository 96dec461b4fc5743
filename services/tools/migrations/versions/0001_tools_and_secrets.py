"""Tools and their secrets.

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

SCHEMA = "tools"


def upgrade() -> None:
    op.create_table(
        "tools",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("source_code", sa.Text, nullable=False),
        sa.Column("function_name", sa.Text, nullable=False),
        sa.Column("json_schema", JSONB, nullable=False),
        sa.Column("parallel_safe", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("requires_approval", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("result_char_limit", sa.Integer, nullable=False, server_default="0"),
        sa.Column("timeout_ms", sa.Integer, nullable=True, comment="null: the service's default"),
        sa.Column("secret_names", sa.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("tags", sa.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("tools_tenant_name", "tools", ["tenant", "name"], unique=True, schema=SCHEMA)
    op.create_index("tools_tags", "tools", ["tags"], postgresql_using="gin", schema=SCHEMA)
    op.create_table(
        "secrets",
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False, comment="empty: tenant-wide"),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False, comment="AES-256-GCM nonce || ciphertext"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("tenant", "agent_id", "name", name="secrets_pkey"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("secrets", schema=SCHEMA)
    op.drop_table("tools", schema=SCHEMA)
