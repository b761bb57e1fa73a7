"""Group commit: the writes of executions that end (or begin) together share one transaction.

A first pass or a mass update runs ``engine.workers`` executions at once, and each writes its
beginning, its steps and its outcome as it goes. One transaction each meant one commit, one
fence check and one session each: most of the store's cost. :class:`GroupCommit` lets the
threads that write at the same moment commit together. The first thread to find no commit
under way takes every write queued by then (up to ``limit``) and runs them in order in one
transaction; the others wait for that commit, and whoever comes after takes the next group.
No thread waits for a group to fill: a write alone commits at once, as before.

Every write still commits before its caller returns (a caller never acts on a write that
could be lost), each sees the writes queued before it, and the fence check (invariant 9) runs
once per transaction, covering all of them. If any write of a group raises — a stale plan, a
held delete, a refused value — the group's transaction is rolled back and each of its writes
runs again alone, so each caller gets its own outcome and no write depends on another's
failure (a write is a function of the session only, so running it again is safe). A failure of
the transaction itself (the fence check, the commit) is every caller's, as it would be alone.

Writes of one kind may also share their statements: a write given ``together`` (a function of
the session and a list of items, answering one result per item) runs in a group with the
others given the same function as one call of it, after the group's other writes. Reordering
a group is safe because no write of a group waits for another: each caller waits for its own
commit before it writes again, so the writes of one group are concurrent, and any order of
them is one their callers could have seen. Alone, or if the call raises, each write's own
``work`` runs instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
Transaction = Callable[[], AbstractContextManager[Session]]
Together = Callable[[Session, list[Any]], list[Any]]
"""Writes of one kind as one call: their items in, one result per item out, in order."""


class _Write(Generic[T]):
    __slots__ = ("done", "error", "item", "result", "together", "work")

    def __init__(
        self, work: Callable[[Session], T], together: Together | None, item: object
    ) -> None:
        self.work = work
        self.together = together
        self.item = item
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self, transaction: Transaction, *, limit: int = 128) -> None:
        self._transaction = transaction
        self._limit = limit
        self._pending: list[_Write[Any]] = []
        self._changed = threading.Condition(threading.Lock())
        """Guards the queue and the lead; notified when a group's commit ended."""
        self._leading = False
        self.groups = 0
        """Transactions that committed more than one write (for tests and benchmarks)."""

    @property
    def queued(self) -> int:
        """Writes waiting for a transaction."""
        with self._changed:
            return len(self._pending)

    def run(
        self,
        work: Callable[[Session], T],
        *,
        together: Together | None = None,
        item: object = None,
    ) -> T:
        """Run ``work`` in a transaction, with whatever other writes are queued, and return
        its result once that transaction committed; its error if it raised. ``together``:
        in a group, ``item`` goes to one call of it with the items of the group's other
        writes given the same function, whose answer for ``item`` stands for ``work``'s."""
        write = _Write(work, together, item)
        with self._changed:
            self._pending.append(write)
        while not write.done:
            with self._changed:
                # A write waits here for its group's commit, not for the next group's lead:
                # answered, it returns at once, and its caller's next write joins a group.
                while self._leading and not write.done:
                    self._changed.wait()
                if write.done:
                    break
                self._leading = True
                group = self._pending[: self._limit]
                del self._pending[: self._limit]
            try:
                self._commit(group)
            finally:
                with self._changed:
                    self._leading = False
                    self._changed.notify_all()
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]  # set with done, without error

    def _commit(self, group: list[_Write[Any]]) -> None:
        try:
            if len(group) > 1 and self._together(group):
                return
            for write in group:
                try:
                    with self._transaction() as session:
                        write.result = write.work(session)
                except Exception as exc:
                    write.error = exc
                write.done = True
        finally:
            for write in group:  # a BaseException (interpreter exit) leaves none waiting
                if not write.done:
                    write.error = RuntimeError("the group commit was interrupted")
                    write.done = True

    def _together(self, group: list[_Write[Any]]) -> bool:
        """Run ``group`` in one transaction; False, with nothing written, if one of its writes
        raised (each then runs again alone, to its own outcome). A failure of the transaction
        itself — the fence check, the commit — is every write's: none runs again, since a
        commit whose reply was lost may have written them all."""
        kinds: dict[Together, list[_Write[Any]]] = {}
        alone: list[_Write[Any]] = []
        for write in group:
            if write.together is None:
                alone.append(write)
            else:
                kinds.setdefault(write.together, []).append(write)
        ordered: list[_Write[Any]] = []
        results: list[Any] = []
        try:
            with self._transaction() as session:
                for write in alone:
                    results.append(write.work(session))
                    ordered.append(write)
                for together, writes in kinds.items():
                    if len(writes) == 1:
                        results.append(writes[0].work(session))
                    else:
                        answers = together(session, [write.item for write in writes])
                        if len(answers) != len(writes):
                            raise RuntimeError(
                                f"{len(answers)} results for {len(writes)} writes of one kind"
                            )
                        results.extend(answers)
                    ordered.extend(writes)
        except Exception as exc:  # handed to the callers, or each write runs again alone
            if len(ordered) < len(group):
                return False
            for write in group:
                write.error, write.done = exc, True
            return True
        self.groups += 1
        for write, result in zip(ordered, results, strict=True):
            write.result, write.done = result, True
        return True
