"""Runs, their stored events, and agent leases.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "gateway"

# The queued event of a run is stored by the statement that accepts the run, and says how many runs
# were ahead of it, which only that statement knows. It appends RunEvent.queued (field 10,
# length-delimited) holding RunQueued.position (field 1, varint) to the rest of the event, which the
# caller serialized. Protobuf parsers accept fields in any order.
QUEUED_EVENT = r"""
CREATE FUNCTION gateway.queued_event(head bytea, ahead integer) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    body bytea := ''::bytea;
    n integer := ahead;
BEGIN
    IF n > 0 THEN
        body := '\x08'::bytea;
        WHILE n >= 128 LOOP
            body := body || set_byte('\x00'::bytea, 0, (n & 127) | 128);
            n := n >> 7;
        END LOOP;
        body := body || set_byte('\x00'::bytea, 0, n);
    END IF;
    RETURN head || '\x52'::bytea || set_byte('\x00'::bytea, 0, length(body)) || body;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column(
            "lane_seq",
            sa.BigInteger,
            sa.Identity(always=False),
            nullable=False,
            unique=True,
            comment="acceptance order: a lane runs its agent's runs by ascending lane_seq",
        ),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False, comment="agentsuite.gateway.v1.RunStatus"),
        sa.Column(
            "priority", sa.SmallInteger, nullable=False, server_default="0", comment="1 = interrupting run"
        ),
        sa.Column("idempotency_key", sa.Text, nullable=True),
        sa.Column(
            "step_request",
            sa.LargeBinary,
            nullable=False,
            comment="serialized AgentRuntime StepRequest: input, max_steps, approvals",
        ),
        sa.Column("deltas", sa.Boolean, nullable=False, server_default="true", comment="stream text deltas"),
        sa.Column(
            "call_chain", sa.Text, nullable=False, server_default="", comment="agent ids, oldest first"
        ),
        sa.Column(
            "epoch", sa.BigInteger, nullable=False, server_default="0", comment="lease epoch it runs under"
        ),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("stop_reason", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("stop_detail", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "result", sa.LargeBinary, nullable=True, comment="serialized Run: usage and pending approvals"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tenant", "agent_id", "idempotency_key", name="runs_idempotency_key"),
        schema=SCHEMA,
    )
    op.create_index("runs_by_agent", "runs", ["tenant", "agent_id", "lane_seq"], schema=SCHEMA)
    op.create_index("runs_by_tenant", "runs", ["tenant", "lane_seq"], schema=SCHEMA)
    op.create_index(
        "runs_unfinished",
        "runs",
        ["tenant", "agent_id", "lane_seq"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN (1, 2, 6)"),
    )
    op.create_table(
        "run_events",
        sa.Column(
            "run_id",
            UUID(as_uuid=False),
            sa.ForeignKey("gateway.runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column(
            "event", sa.LargeBinary, nullable=False, comment="serialized agentsuite.gateway.v1.RunEvent"
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "agent_leases",
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("agent_id", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=True, comment="gateway process holding it; NULL when released"),
        sa.Column("epoch", sa.BigInteger, nullable=False, comment="increases at every acquisition"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.execute(QUEUED_EVENT)


def downgrade() -> None:
    op.execute("DROP FUNCTION gateway.queued_event(bytea, integer)")
    op.drop_table("agent_leases", schema=SCHEMA)
    op.drop_table("run_events", schema=SCHEMA)
    op.drop_index("runs_unfinished", table_name="runs", schema=SCHEMA)
    op.drop_index("runs_by_tenant", table_name="runs", schema=SCHEMA)
    op.drop_index("runs_by_agent", table_name="runs", schema=SCHEMA)
    op.drop_table("runs", schema=SCHEMA)
