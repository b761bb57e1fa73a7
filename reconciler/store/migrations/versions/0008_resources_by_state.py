"""resources: an index by (state, shared, id) for the delete guard's fingerprint

Every sync reads the guard's fingerprint of the resources — per state and sharing, how many
and the sum of their ids. Grouped over this covering index it reads the index alone, not
every row with its JSON columns: 3 ms instead of 34 ms at 25,000 resources on SQLite.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_resources_state_shared_id", "resources", ["state", "shared", "id"])


def downgrade() -> None:
    op.drop_index("ix_resources_state_shared_id", table_name="resources")
