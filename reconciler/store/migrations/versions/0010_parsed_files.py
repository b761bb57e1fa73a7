"""parsed_files: each repository's Score files as the daemon last parsed them

A restart parsed every Score file of every repository again (a second of a no-op pass at
5,000 files), though almost none had changed. This table keeps each file's workloads as the
parser made them, under a key naming its path, its content and the parser's own source, so a
restart parses only the files whose key changed. It starts empty: the first pass fills it.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parsed_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(length=63), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("workloads", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repository", "path", name="uq_parsed_files_path"),
    )


def downgrade() -> None:
    op.drop_table("parsed_files")
