"""Exactly-once effects of runs: the record of every keyed block edit and passage insert, and the
fencing epoch each message was stored under.

A run may execute a step more than once (a retried step, a takeover); each effect of a step carries
a key made of run, step and tool call. The effect and its record commit in one transaction, so a
repeated effect finds the record and is not applied again.

Revision ID: 0004_effects
Revises: 0003_archival
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0004_effects"
down_revision = "0003_archival"
branch_labels = None
depends_on = None

SCHEMA = "memory"


def upgrade() -> None:
    op.create_table(
        "effects",
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "outcome",
            ARRAY(sa.Text),
            nullable=False,
            comment="what the effect made: the edited block's id, or the inserted passages' ids",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("tenant", "idempotency_key", name="effects_pkey"),
        schema=SCHEMA,
        comment="keyed block edits and passage inserts, each applied once",
    )
    op.create_index("effects_agent", "effects", ["agent_id"], schema=SCHEMA)
    op.add_column(
        "messages",
        sa.Column(
            "epoch",
            sa.BigInteger,
            nullable=False,
            server_default="0",
            comment="fencing epoch of the lease the message was stored under (0: not by a run)",
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("messages", "epoch", schema=SCHEMA)
    op.drop_index("effects_agent", table_name="effects", schema=SCHEMA)
    op.drop_table("effects", schema=SCHEMA)
