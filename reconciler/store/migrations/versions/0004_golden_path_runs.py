"""golden path runs requested from Git (kind: GoldenPathRun files)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "golden_path_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("file", sa.String(length=1024), nullable=False),
        sa.Column("golden_path", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("run_digest", sa.String(length=64), nullable=True),
        sa.Column("commit", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=255), nullable=True),
        sa.Column("provider_version", sa.String(length=64), nullable=True),
        sa.Column("workflow", sa.String(length=255), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repository", "name", name="uq_golden_path_runs_name"),
    )
    with op.batch_alter_table("golden_path_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_golden_path_runs_repository"), ["repository"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_golden_path_runs_golden_path"), ["golden_path"], unique=False
        )


def downgrade() -> None:
    op.drop_table("golden_path_runs")
