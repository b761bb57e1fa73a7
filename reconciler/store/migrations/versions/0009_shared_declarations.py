"""shared_declarations: which apps' recorded specs declare each shared resource

A commit changing an app that declares a shared resource (a Score ``id``) judged it against
every other app that declares one, and read every app's spec to find them: O(all apps) per
such commit (half a second at 5,000 apps). This table names, for each shared resource UID,
the apps whose recorded spec declares it, so that judgement reads only those apps. It is kept
with ``apps.desired`` by the store; this migration fills it from the specs recorded so far.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _declared(desired: Any) -> list[str]:
    if isinstance(desired, str):  # SQLite's driver hands JSON columns back as text here
        desired = json.loads(desired)
    if not isinstance(desired, dict):
        return []
    resources = desired.get("resources")
    if not isinstance(resources, dict):
        return []
    return sorted(
        {
            r["uid"]
            for r in resources.values()
            if isinstance(r, dict) and r.get("id") is not None and isinstance(r.get("uid"), str)
        }
    )


def upgrade() -> None:
    table = op.create_table(
        "shared_declarations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app", sa.String(length=255), nullable=False),
        sa.Column("uid", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app", "uid", name="uq_shared_declarations_app_uid"),
    )
    op.create_index(op.f("ix_shared_declarations_app"), "shared_declarations", ["app"])
    op.create_index(op.f("ix_shared_declarations_uid"), "shared_declarations", ["uid"])
    apps = sa.table("apps", sa.column("name", sa.String()), sa.column("desired", sa.JSON()))
    rows = op.get_bind().execute(sa.select(apps.c.name, apps.c.desired))
    declared = [{"app": name, "uid": uid} for name, desired in rows for uid in _declared(desired)]
    if declared:
        op.bulk_insert(table, declared)


def downgrade() -> None:
    op.drop_index(op.f("ix_shared_declarations_uid"), table_name="shared_declarations")
    op.drop_index(op.f("ix_shared_declarations_app"), table_name="shared_declarations")
    op.drop_table("shared_declarations")
