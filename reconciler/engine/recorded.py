"""One repository's apps as its sync last recorded them, and a pass's comparison with Git.

Only a repository's sync writes its apps' specs, so after one read (the first pass after a
start, or after a write that failed) the store's copy is known without decoding every spec
again on every commit. A pass compares only the apps it is given (``engine/sync.py``: those of
the files the commit changed, and those :meth:`RecordedApps.unsettled` left to it); over every
app, the comparison is the whole repository's, and an app left out is one it would not record.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from reconciler.desired import DesiredApp
from reconciler.engine.desiredcache import DesiredCache
from reconciler.store import AppDesired, AppRecord
from reconciler.types import AppName, CommitSha


@dataclass(frozen=True, slots=True)
class Comparison:
    updates: list[AppDesired]
    snapshots: dict[str, DesiredApp | None]
    """The apps this pass records (None: removed from Git): the only ones checked."""


class RecordedApps(Mapping[str, AppRecord]):
    """App name -> its record, as the sync last wrote or read it."""

    def __init__(self, records: Iterable[AppRecord]) -> None:
        self._apps: dict[str, AppRecord] = {}
        self._at: dict[str, set[str]] = {}
        """Path -> the apps recorded at it (a file that breaks or comes back: theirs)."""
        self.stored: dict[str, DesiredApp] = {}
        """App -> the built app whose snapshot the store holds: the same object at the next
        pass means the same spec, compared without serialising it."""
        for record in records:
            self._put(record)

    def __getitem__(self, name: str) -> AppRecord:
        return self._apps[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._apps)

    def __len__(self) -> int:
        return len(self._apps)

    def holding(self, paths: Iterable[str]) -> set[str]:
        """The apps recorded at one of ``paths``."""
        return {name for path in paths for name in self._at.get(path, ())}

    def compare(
        self,
        desired: DesiredCache,
        names: Collection[str],
        *,
        built: Mapping[str, dict[str, Any]],
        forgotten: Callable[[AppName], bool],
    ) -> Comparison:
        """What this pass records of the apps ``names``: in Git and changed, invalid, or gone
        from Git. An app in Git in the same spec as recorded is noted as such (its spec
        becomes the parsed one). ``built``: specs already serialised (a first pass's)."""
        updates: list[AppDesired] = []
        snapshots: dict[str, DesiredApp | None] = {}
        for app_name in desired.ordered(AppName(n) for n in names if n in desired.apps):
            app = desired.apps[app_name]
            old = self._apps.get(app_name)
            if old is not None and old.error is None and self.stored.get(app_name) is app:
                continue  # built from the same parsed file as the spec recorded
            snapshot = built.get(app_name) or app.to_json()
            if old is None or old.desired != snapshot or old.error is not None:
                snapshots[app_name] = app
                updates.append(AppDesired(name=app_name, path=app.path, desired=snapshot))
            else:
                self.stored[app_name] = app
                # The same spec, built from the parsed file: its strings are the parse's,
                # so a copy decoded from the store (most of a fresh pass's memory) goes.
                self._put(replace(old, desired=snapshot))
        for app_name in desired.ordered(AppName(n) for n in names if n in desired.invalid_apps):
            path, error = desired.invalid_apps[app_name]
            updates.append(AppDesired(name=app_name, path=path, error=error))
        for app_name in sorted(AppName(n) for n in names if n in self._apps):
            old = self._apps[app_name]
            if app_name in desired.apps or app_name in desired.invalid_apps:
                continue
            if old.path in desired.invalid_files:
                if old.desired is None and old.error is None and forgotten(app_name):
                    self._pop(app_name)  # its deletes done: nothing of it to keep
                    continue
                error = desired.invalid_files[old.path]
                updates.append(AppDesired(name=app_name, path=old.path, error=error))
            elif old.desired is not None or old.error is not None:
                snapshots[app_name] = None
                updates.append(AppDesired(name=app_name, path=old.path, desired=None))
        return Comparison(updates, snapshots)

    def remember(
        self,
        updates: Iterable[AppDesired],
        snapshots: Mapping[str, DesiredApp | None],
        *,
        repository: str,
        commit: CommitSha,
    ) -> None:
        """Apply what ``record_sync`` wrote (as ``save_desired`` does: an app with an error
        keeps its last good spec)."""
        for update in updates:
            old = self._apps.get(update.name)
            if old is None:
                if update.desired is None and update.error is None:
                    continue
                old = AppRecord(
                    name=update.name,
                    repository=repository,
                    path=update.path,
                    commit=commit,
                    desired=None,
                    error=None,
                    phase="Progressing",
                    reason="Reconciling",
                    message="",
                    updated_at=datetime.now(UTC),
                )
            built = snapshots.get(update.name)
            if update.error is not None:
                spec = update.desired if update.desired is not None else old.desired
                self.stored.pop(update.name, None)
            else:
                spec = update.desired
                if built is not None and update.desired is not None:
                    self.stored[update.name] = built
                else:
                    self.stored.pop(update.name, None)
            self._put(
                replace(old, path=update.path, commit=commit, desired=spec, error=update.error)
            )

    def unsettled(self, desired: DesiredCache, names: Iterable[str]) -> set[str]:
        """Of ``names``, the apps a pass compares again even if no file of theirs changes:
        those it would record again (an invalid app, at every pass; an app whose name another
        repository holds, or one refused until a conflict goes, are tried again)."""
        return {name for name in names if self._unsettled(desired, AppName(name))}

    def _unsettled(self, desired: DesiredCache, name: AppName) -> bool:
        old = self._apps.get(name)
        app = desired.apps.get(name)
        if app is not None:
            return old is None or old.error is not None or self.stored.get(name) is not app
        if name in desired.invalid_apps:
            return True
        if old is None:
            return False
        return old.path in desired.invalid_files or old.desired is not None or old.error is not None

    def _put(self, record: AppRecord) -> None:
        old = self._apps.get(record.name)
        if old is not None and old.path != record.path:
            self._unplace(old)
        self._apps[record.name] = record
        self._at.setdefault(record.path, set()).add(record.name)

    def _pop(self, name: str) -> None:
        self._unplace(self._apps.pop(name))
        self.stored.pop(name, None)

    def _unplace(self, record: AppRecord) -> None:
        names = self._at[record.path]
        names.discard(record.name)
        if not names:
            del self._at[record.path]
