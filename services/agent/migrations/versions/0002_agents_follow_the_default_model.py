"""Agents that named no model follow the suite's default model.

Agents used to get the default provider and model written into them at creation, so an agent made
while the offline model was the default kept using it after a real provider was configured. An
empty provider and model now mean "the suite's default, resolved at every run". Agents holding the
offline model's default name are the ones made that way: they follow the default from now on.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "agent"


def upgrade() -> None:
    op.execute(
        f"UPDATE {SCHEMA}.agents SET provider = '', model = '' "
        "WHERE provider = 'scripted' AND model = 'offline-scripted'"
    )


def downgrade() -> None:
    op.execute(
        f"UPDATE {SCHEMA}.agents SET provider = 'scripted', model = 'offline-scripted' "
        "WHERE provider = '' AND model = ''"
    )
