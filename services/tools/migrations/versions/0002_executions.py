"""Keyed executions: the claim and the stored result of every tool call made with an idempotency key,
so a call repeated by a run that executes again is answered from here instead of running twice.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "tools"


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("tool_id", sa.Text, nullable=False),
        sa.Column(
            "claimed_until",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="while the result is null, the claimant may still be executing until then",
        ),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column(
            "result",
            sa.Text,
            nullable=True,
            comment="the result as JSON text (it may hold any character); null: not finished",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("tenant", "idempotency_key", name="executions_pkey"),
        sa.Index("executions_created", "created_at"),
        schema=SCHEMA,
        comment="tool calls made with an idempotency key: executed once, answered from here after",
    )


def downgrade() -> None:
    op.drop_table("executions", schema=SCHEMA)
