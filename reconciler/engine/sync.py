"""One repository pass: fetch, re-parse what changed, record desired apps, apply the guard.

Runs in a worker thread (git and SQL block). Incremental (ARCHITECTURE §5.3): after the first
pass only files changed between the last synced commit and the new tip are re-parsed. A broken
file marks its apps ``Invalid`` and keeps their last good spec; an unreachable repository is
recorded with its error and nothing else changes (invariant 1: never a delete from a broken
source). The delete guard (invariant 2) is evaluated over the whole repository.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.desired import DesiredApp, DesiredResource, ParsedFile, assemble, parse_file
from reconciler.errors import SourceError
from reconciler.plan.guard import delete_guard
from reconciler.plan.hashing import canonical_json
from reconciler.settings import RepositorySettings
from reconciler.sources.git import GitMirror
from reconciler.sources.globs import match_glob
from reconciler.store import AppDesired, Store
from reconciler.types import AppName, CommitSha

logger = logging.getLogger(__name__)
SHARED_CONFLICT = "shared resource conflict:"


def _fingerprint(resource: DesiredResource) -> str:
    return canonical_json([resource.type, resource.class_, resource.params, resource.annotations])


@dataclass(frozen=True, slots=True)
class SyncResult:
    commit: CommitSha | None
    changed_apps: frozenset[str] = frozenset()
    error: str | None = None
    hold: str | None = None


@dataclass
class RepositorySync:
    """Keeps the parse cache of one repository between passes."""

    settings: RepositorySettings
    mirror: GitMirror
    store: Store
    max_deletes: int
    _commit: CommitSha | None = None
    _parsed: dict[str, ParsedFile] = field(default_factory=dict)

    def _included(self, path: str) -> bool:
        return any(match_glob(path, pattern) for pattern in self.settings.include)

    def _refresh_files(self, commit: CommitSha) -> None:
        if self._commit is not None and self.mirror.has_commit(self._commit):
            changes = [
                c for c in self.mirror.changed_files(self._commit, commit) if self._included(c.path)
            ]
            removed = [c.path for c in changes if c.status == "D"]
            wanted = [c.path for c in changes if c.status != "D"]
        else:
            self._parsed.clear()
            removed = []
            wanted = self.mirror.list_files(commit, include=self.settings.include)
        for path in removed:
            self._parsed.pop(path, None)
        contents = self.mirror.read_files(commit, wanted)
        for path in wanted:
            if path in contents:
                self._parsed[path] = parse_file(path, contents[path])
            else:
                self._parsed.pop(path, None)
        self._commit = commit

    def run(self, *, now: datetime) -> SyncResult:
        name = self.settings.name
        try:
            commit = self.mirror.fetch()
            self._refresh_files(commit)
        except SourceError as exc:
            failures = self.store.repositories.record_error(
                name, error=exc.message, next_poll_at=None
            )
            logger.warning("repository %s: %s (failure %d)", name, exc.message, failures)
            return SyncResult(commit=None, error=exc.message)
        desired = assemble(self._parsed)
        recorded = {a.name: a for a in self.store.apps.all(repository=name)}
        updates: list[AppDesired] = []
        snapshots: dict[str, DesiredApp | None] = {}
        for app_name, app in desired.apps.items():
            snapshot = app.to_json()
            snapshots[app_name] = app
            old = recorded.get(app_name)
            if old is None or old.desired != snapshot or old.error is not None:
                updates.append(AppDesired(name=app_name, path=app.path, desired=snapshot))
        for app_name, (path, error) in desired.invalid_apps.items():
            updates.append(AppDesired(name=app_name, path=path, error=error))
        for old_name, old in recorded.items():
            app_name = AppName(old_name)
            if app_name in desired.apps or app_name in desired.invalid_apps:
                continue
            if old.path in desired.invalid_files:
                updates.append(
                    AppDesired(name=app_name, path=old.path, error=desired.invalid_files[old.path])
                )
            elif old.desired is not None or old.error is not None:
                snapshots[app_name] = None
                updates.append(AppDesired(name=app_name, path=old.path, desired=None))
        updates = self._shared_conflicts(updates, snapshots)
        changed = {u.name for u in updates}
        hold = self._guard(
            {n: app for n, app in snapshots.items() if n in changed and n in recorded},
            commit=commit,
        )
        self.store.apps.save_desired(repository=name, commit=commit, apps=updates)
        self.store.repositories.record_seen(
            name, commit=commit, next_poll_at=now + timedelta(seconds=self.settings.interval)
        )
        problems = "\n".join(desired.invalid_files[p] for p in sorted(desired.invalid_files))
        self.store.repositories.record_reconciled(
            name, commit=commit, hold_reason=hold, problems=problems or None
        )
        for error in desired.invalid_files.values():
            logger.warning("repository %s: %s", name, error)
        return SyncResult(commit=commit, changed_apps=frozenset(u.name for u in updates), hold=hold)

    def _shared_conflicts(
        self, updates: list[AppDesired], snapshots: dict[str, DesiredApp | None]
    ) -> list[AppDesired]:
        """Two apps declaring one shared resource (same ``id``) must declare it identically;
        otherwise both are ``Invalid``, each message naming the other file. Apps whose only
        problem was such a conflict recover once it is gone."""
        by_name = {u.name: u for u in updates}
        declared: dict[str, list[tuple[str, str, str]]] = {}  # uid -> (app, path, fingerprint)
        stored = {a.name: a for a in self.store.apps.all()}
        for name, record in stored.items():
            spec = by_name[name].desired if name in by_name else record.desired
            if name in snapshots and snapshots[name] is None:
                continue
            if spec is None or not _declares_shared(spec):
                continue
            app = DesiredApp.from_json(name, spec)
            for resource in app.resources.values():
                if resource.id is not None:
                    declared.setdefault(resource.uid, []).append(
                        (name, app.path, _fingerprint(resource))
                    )
        for name, snapshot in snapshots.items():
            if snapshot is None or name in stored:
                continue
            for resource in snapshot.resources.values():
                if resource.id is not None:
                    declared.setdefault(resource.uid, []).append(
                        (name, snapshot.path, _fingerprint(resource))
                    )
        conflicts: dict[str, str] = {}
        for uid, declarations in declared.items():
            if len({fingerprint for _, _, fingerprint in declarations}) < 2:
                continue
            for name, _path, _ in declarations:
                others = ", ".join(
                    f"app {other!r} ({other_path})"
                    for other, other_path, _ in declarations
                    if other != name
                )
                conflicts.setdefault(
                    name,
                    f"{SHARED_CONFLICT} {uid} is also declared by {others} with different "
                    "type, class, params or annotations; declare a shared resource identically "
                    "everywhere, or give one of them another id",
                )
        for name, message in conflicts.items():
            current = by_name.get(name)
            known = stored.get(name)
            spec = current.desired if current is not None else (known.desired if known else None)
            path = current.path if current is not None else (known.path if known else "")
            by_name[name] = AppDesired(name=name, path=path, desired=spec, error=message)
        for name, record in stored.items():
            if name in conflicts or not (record.error or "").startswith(SHARED_CONFLICT):
                continue
            if name not in by_name and record.desired is not None:
                by_name[name] = AppDesired(name=name, path=record.path, desired=record.desired)
        return list(by_name.values())

    def _guard(self, changed: dict[str, DesiredApp | None], *, commit: CommitSha) -> str | None:
        """Whether the deletes this commit causes must wait for a confirm. ``changed``: the
        recorded apps whose spec this commit changes (None: removed) — only their resources
        can be deleted by it, so only theirs are read."""
        if not self.settings.prune or not changed:
            return None
        deletes = 0
        for name, app in changed.items():
            kept = {r.uid for r in app.resources.values()} if app is not None else set()
            deletes += sum(
                1
                for r in self.store.resources.of_app(name)
                if r.app == name and r.state != "terminated" and r.uid not in kept
            )
        if deletes == 0:
            return None
        live = self.store.resources.count_live(repository=self.settings.name)
        reason = delete_guard(deletes=deletes, live=live, max_deletes=self.max_deletes)
        if reason is None:
            return None
        record = self.store.repositories.get(self.settings.name)
        if record is not None and record.confirmed_commit == commit:
            return None
        return reason.replace("<repository>", self.settings.name)


def _declares_shared(spec: Mapping[str, Any]) -> bool:
    """Whether a stored desired snapshot has a shared resource (one with an ``id``), read off
    the JSON without building the app (most apps have none)."""
    resources = spec.get("resources") or {}
    return any(raw.get("id") is not None for raw in resources.values())
