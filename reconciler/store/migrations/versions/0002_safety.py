"""safety under faults: durable holds, rewrites, outages, suspension, step process groups,
the daemon lease with its fencing epoch (executions.epoch), and the operator control channel

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold_commit", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hold_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("held_uids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_uids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("rewritten_from", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("rewritten_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("error_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("good_commit", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("suspended", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("suspended", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("epoch", sa.Integer(), nullable=True))
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "control",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("repository", sa.String(length=63), nullable=True),
        sa.Column("app", sa.String(length=255), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("control")
    op.drop_table("leases")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_column("epoch")
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("suspended")
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        for column in (
            "suspended",
            "good_commit",
            "error_since",
            "rewritten_at",
            "rewritten_from",
            "confirmed_uids",
            "held_uids",
            "hold_kind",
            "hold_commit",
        ):
            batch_op.drop_column(column)
