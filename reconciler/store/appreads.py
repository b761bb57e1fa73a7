"""Reading apps as plain rows, not ORM objects, for the reads of thousands of apps at a start:
their headers (no spec: the status write-back, the engine's first pass), and their records
with the desired spec, decoding only the specs the caller does not hold already (the
repository sync's first pass compares every stored spec with the one it just built from Git:
decoding thousands of them was most of what that cost; the app reconciler's batched
snapshots). Called by :class:`reconciler.store.repositories.Apps`.

The store writes a spec as ``json.dumps`` of it (SQLAlchemy's JSON column), so a row whose text
is a known spec serialised the same way holds that spec: the known mapping stands for it, and
the row's copy is never decoded. A NaN is the exception (equal to nothing once decoded, the
store's copy never equals the known one), so a text with one is decoded and compared as any
other; so is a driver's already decoded value (psycopg decodes JSON itself). Each spec found so
is remembered with the digest of its text (:data:`Held`): a later read of a row still holding
that text (the app reconciler's snapshots, right after the sync) takes the remembered spec
instead of decoding its own copy, so every reader shares one mapping and none may change it.
Rows are unpacked by position: reading a row's fields by name costs more than building the
record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from reconciler.store.models import AppRow
from reconciler.store.rawjson import decoded, json_text
from reconciler.store.records import AppHeader, AppRecord
from reconciler.store.session import utc

HEADER_COLUMNS = (
    *(AppRow.name, AppRow.repository, AppRow.path, AppRow.commit, AppRow.error, AppRow.phase),
    *(AppRow.reason, AppRow.message, AppRow.updated_at, AppRow.suspended),
)
"""What :func:`read_headers` reads, in its order."""
APP_COLUMNS = (*HEADER_COLUMNS, json_text(AppRow.desired))
"""What :func:`app_record` reads, in its order."""


def _aware(value: datetime) -> datetime:
    updated = utc(value)
    assert updated is not None
    return updated


Held = dict[str, tuple[bytes, Mapping[str, Any]]]
"""App -> (the digest of the text its row held, the spec that text is): specs a caller knew."""


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def stored_spec(
    name: str, raw: object, *, known: Mapping[str, Any] | None, held: Held
) -> Mapping[str, Any] | None:
    """The spec app ``name``'s row holds (``raw``: its text, or the value a driver decoded):
    ``known`` itself when the text is ``known`` as the store serialises it (then remembered in
    ``held``), the spec ``held`` remembers for this very text, else the row's decoded."""
    if isinstance(raw, str):
        if known is not None and "NaN" not in raw:
            try:
                same = json.dumps(known) == raw
            except (TypeError, ValueError):
                same = False  # not JSON-serialisable: never what the store holds
            if same:
                held[name] = (_digest(raw), known)
                return known
        remembered = held.get(name)
        if remembered is not None:
            if remembered[0] == _digest(raw):
                return remembered[1]
            held.pop(name, None)  # the app's spec changed since (a lost entry costs a decode)
    # SQL NULL or JSON null (an app removed from Git), or the spec it holds decoded.
    return cast("Mapping[str, Any] | None", decoded(raw))


def app_record(
    row: Sequence[Any], *, held: Held, known: Mapping[str, Any] | None = None
) -> AppRecord:
    """An app from a row of :data:`APP_COLUMNS`; ``known``: a spec the caller holds for it
    (:func:`stored_spec`)."""
    name, repository, path, commit, error, phase, reason, message, updated, suspended, raw = row
    return AppRecord(
        name=name,
        repository=repository,
        path=path,
        commit=commit,
        desired=stored_spec(name, raw, known=known, held=held),
        error=error,
        phase=phase,
        reason=reason,
        message=message,
        updated_at=_aware(updated),
        suspended=suspended,
    )


def read_apps(
    session: Session,
    *,
    repository: str | None,
    known: Mapping[str, Mapping[str, Any]],
    held: Held,
    where: ColumnElement[bool] | None = None,
) -> list[AppRecord]:
    """Every app (of ``repository`` only, unless None; matching ``where``, unless None), by
    name, with its spec; ``known``: the specs the caller holds by app name
    (:func:`stored_spec`)."""
    query = select(*APP_COLUMNS).order_by(AppRow.name)
    if repository is not None:
        query = query.where(AppRow.repository == repository)
    if where is not None:
        query = query.where(where)
    rows = session.connection().execute(query)
    return [app_record(row, known=known.get(row[0]), held=held) for row in rows]


def read_headers(
    session: Session, *, repository: str | None, names: Collection[str] | None = None
) -> list[AppHeader]:
    """Every app (of ``repository`` only, unless None; of ``names`` only, unless None), by
    name, without its spec."""
    query = select(*HEADER_COLUMNS).order_by(AppRow.name)
    if repository is not None:
        query = query.where(AppRow.repository == repository)
    if names is not None:
        query = query.where(AppRow.name.in_(sorted(set(names))))
    headers = []
    for row in session.connection().execute(query):
        name, owner, path, commit, error, phase, reason, message, updated, suspended = row
        headers.append(
            AppHeader(
                name=name,
                repository=owner,
                path=path,
                commit=commit,
                error=error,
                phase=phase,
                reason=reason,
                message=message,
                updated_at=_aware(updated),
                suspended=suspended,
            )
        )
    return headers
