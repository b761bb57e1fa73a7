"""replicas on one PostgreSQL: ready actions, the replica of an execution, one running
execution per resource as a constraint

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RUNNING = sa.text("state = 'running'")


def upgrade() -> None:
    op.create_table(
        "ready_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_uid", sa.String(length=512), nullable=False),
        sa.Column("app", sa.String(length=255), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("providers", sa.String(length=64), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=63), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("resource_uid"),
    )
    with op.batch_alter_table("ready_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ready_actions_claimed_by"), ["claimed_by"], unique=False
        )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replica", sa.String(length=63), nullable=True))
    # A database that broke invariant 3 before the constraint existed keeps its newest
    # running execution per resource; the older ones were stale records.
    op.execute(
        "UPDATE executions SET state = 'interrupted' WHERE state = 'running' AND id NOT IN "
        "(SELECT MAX(id) FROM executions WHERE state = 'running' GROUP BY resource_uid)"
    )
    op.create_index(
        "uq_executions_one_running",
        "executions",
        ["resource_uid"],
        unique=True,
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )


def downgrade() -> None:
    op.drop_index("uq_executions_one_running", table_name="executions")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_column("replica")
    op.drop_table("ready_actions")
