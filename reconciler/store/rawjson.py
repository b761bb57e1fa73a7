"""JSON columns read as the text they hold and decoded here, not by SQLAlchemy's JSON type: for
the reads of thousands of rows at a start (every resource for the plans and for the status
write-back, every app's spec for the repository sync), called by
:mod:`reconciler.store.resourcereads`, :mod:`reconciler.store.shown` and
:mod:`reconciler.store.appreads`.

Decoded here, most of these values (an empty map or list: no outputs, no secret keys, no
dependencies) never reach the JSON parser, and a caller that holds a value already can compare
it by its text (:mod:`.appreads`). The columns are cast to text in SQL: psycopg would decode
a PostgreSQL ``json`` value itself, every spec and output of thousands of rows at a start.
A value a driver decoded anyway passes through.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Label, Text, cast
from sqlalchemy.orm import InstrumentedAttribute


def json_text(column: InstrumentedAttribute[Any]) -> Label[Any]:
    """``column`` (a JSON one) selected as its text, under its own name: cast in SQL, so that
    PostgreSQL too sends the text as it was written (its ``json`` type keeps it verbatim) and
    psycopg does not decode it."""
    return cast(column, Text).label(column.key)


def decoded(raw: object) -> Any:
    """The value of a JSON column read with :func:`json_text` (None for SQL NULL)."""
    if not isinstance(raw, str):
        return raw  # NULL, or decoded by the driver
    if raw == "{}":
        return {}
    if raw == "[]":
        return []
    return json.loads(raw)
