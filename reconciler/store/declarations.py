"""Which apps' recorded specs declare each shared resource (``shared_declarations``).

A shared resource (a Score ``id``) is judged across every app declaring it, whatever its
repository (:mod:`reconciler.plan.tenancy`). Finding those apps from the specs alone meant
reading every app's spec; this table, kept with ``apps.desired`` in the same transaction,
names them, so a commit reads only the apps sharing an id with the apps it changed. It follows
the recorded spec, valid or not (an app refused for a conflict keeps the spec it was refused
for, which its recovery is judged on); the judge decides which of them count.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, tuple_
from sqlalchemy.orm import Session

from reconciler.store.chunks import CHUNK, chunks
from reconciler.store.models import AppRow, DeclarationRow


def declared_uids(spec: Mapping[str, Any] | None) -> set[str]:
    """The UIDs of the shared resources a recorded spec declares."""
    if spec is None:
        return set()
    return {r["uid"] for r in spec.get("resources", {}).values() if r.get("id") is not None}


def keep_declarations(session: Session, specs: Mapping[str, Mapping[str, Any] | None]) -> None:
    """Make the table say what these apps' recorded ``specs`` declare (None: none)."""
    if not specs:
        return
    wanted = {(app, uid) for app, spec in specs.items() for uid in declared_uids(spec)}
    found: set[tuple[str, str]] = set()
    for names in chunks(sorted(specs)):
        query = select(DeclarationRow.app, DeclarationRow.uid).where(DeclarationRow.app.in_(names))
        found.update((app, uid) for app, uid in session.execute(query))
    for gone in chunks(sorted(found - wanted)):
        pairs = tuple_(DeclarationRow.app, DeclarationRow.uid).in_(gone)
        session.execute(delete(DeclarationRow).where(pairs))
    session.add_all(DeclarationRow(app=app, uid=uid) for app, uid in sorted(wanted - found))


def declaring(uids: Collection[str], *, named: Collection[str] = ()) -> list[ColumnElement[bool]]:
    """Conditions on ``apps`` that together select the apps whose recorded spec declares any
    of ``uids``, and the apps ``named``: one per :data:`CHUNK` of each, as one statement binds
    at most 65,535 values on PostgreSQL (a first pass may judge tens of thousands of apps)."""
    wanted, names = sorted(set(uids)), sorted(set(named))
    conditions: list[ColumnElement[bool]] = []
    for start in range(0, max(len(wanted), len(names), 1), CHUNK):
        found = select(DeclarationRow.app).where(
            DeclarationRow.uid.in_(wanted[start : start + CHUNK])
        )
        conditions.append(
            or_(AppRow.name.in_(found), AppRow.name.in_(names[start : start + CHUNK]))
        )
    return conditions
