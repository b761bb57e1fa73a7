"""The unit of work: one SQLAlchemy session per call, committed as one transaction.

Every state change in the store goes through :meth:`Database.transaction`, so a change and its
audit row land together or not at all (ARCHITECTURE §6 invariant 4). SQLAlchemy errors are
translated to ``StoreError`` here, at the boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from reconciler.errors import StoreError
from reconciler.store.crypto import SecretBox


def utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything innominatus handles is UTC-aware."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


class Database:
    def __init__(self, engine: Engine, *, box: SecretBox) -> None:
        self.engine = engine
        self.box = box
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as exc:
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreError(f"database unavailable: {detail}; will retry", delay=5.0) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc.__class__.__name__}: {exc}") from exc

    def dispose(self) -> None:
        self.engine.dispose()
