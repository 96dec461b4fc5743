"""Every change to an API key row notifies the gateways, in the changing transaction.

Revision ID: 0004
Revises: 0003

Gateways cache which key belongs to which tenant. A trigger rather than a call in ``KeyStore``:
`agentsuite keys revoke`, another replica or an operator's ``psql`` may write the row, and the
notification must go out whatever wrote it. ``pg_notify`` in the transaction is delivered when (and
only if) it commits. The payload is the key's hash (``*`` for a TRUNCATE): any row change, not only
a revocation, evicts the key, which costs one lookup and never keeps a stale answer.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHANNEL = "agentsuite_key_revoked"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION gateway.notify_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_LEVEL = 'STATEMENT' THEN
                PERFORM pg_notify('{CHANNEL}', '*');
            ELSE
                PERFORM pg_notify('{CHANNEL}', OLD.key_hash);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON gateway.api_keys "
        "FOR EACH ROW EXECUTE FUNCTION gateway.notify_key_changed()"
    )
    op.execute(
        "CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON gateway.api_keys "
        "FOR EACH STATEMENT EXECUTE FUNCTION gateway.notify_key_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER api_keys_truncated ON gateway.api_keys")
    op.execute("DROP TRIGGER api_keys_changed ON gateway.api_keys")
    op.execute("DROP FUNCTION gateway.notify_key_changed()")
