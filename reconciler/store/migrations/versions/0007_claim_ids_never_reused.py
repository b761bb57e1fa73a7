"""claims: a row id is never handed out twice (SQLite AUTOINCREMENT)

The delete guard's fingerprint of the claims (count, sum and max of their ids) must move with
every change. SQLite gives a new row the highest id plus one, so claims released from the top
and as many made again took the same ids back and left the fingerprint as it was: a guard
trusting it missed the deletes the release left to another repository. PostgreSQL's sequences
never reuse an id; there is nothing to change.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # The table is rebuilt; the rows copied set its sequence to the highest id they have.
    with op.batch_alter_table(
        "claims", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "claims", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
