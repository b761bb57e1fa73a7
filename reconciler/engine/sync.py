"""One repository pass: fetch, re-parse what changed, record desired apps, apply the guard.

Runs in a worker thread (git and SQL block). Incremental (ARCHITECTURE §5.3): after the first
pass only files changed between the last synced commit and the new tip are re-parsed, and only
the apps they declared or declare are assembled again and compared with what was recorded (with
those a pass records again anyway: invalid apps, refused ones). A broken file marks its apps
``Invalid`` and keeps their last good spec; an unreachable repository is recorded with its
error and nothing else changes (invariant 1: never a delete from a broken source). The delete
guard (invariant 2) is evaluated over the whole repository.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reconciler.desired import DesiredApp, ParsedFile
from reconciler.engine.deleteguard import DeleteGuard
from reconciler.engine.desiredcache import DesiredCache
from reconciler.engine.parsing import parse_kept
from reconciler.engine.recorded import RecordedApps
from reconciler.errors import SourceError, StoreError
from reconciler.plan.goldenruns import ParsedRun, RunRequest, index_runs, parse_run
from reconciler.plan.planner import WORKLOAD_TYPE
from reconciler.plan.tenancy import (
    app_name_taken,
    declarations,
    policy_problem,
    shared_conflicts,
)
from reconciler.settings import RepositorySettings
from reconciler.sources.git import GitMirror
from reconciler.sources.globs import match_glob
from reconciler.store import (
    AppDesired,
    AppRecord,
    KeptParse,
    RepositoryRecord,
    RunAsked,
    Store,
)
from reconciler.store.declarations import declared_uids
from reconciler.store.repositories import hold_of
from reconciler.types import AppName, CommitSha
from reconciler.yamlfile import NodeBudget

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncResult:
    commit: CommitSha | None
    changed_apps: frozenset[str] = frozenset()
    error: str | None = None
    hold: str | None = None
    suspended: bool = False
    retry_after: float | None = None
    """After an error: seconds until the next attempt (recorded as ``next_poll_at``)."""
    runs: tuple[str, ...] = ()
    """Golden path runs now due (their file is new or changed, or was refused before)."""


@dataclass
class RepositorySync:
    """Keeps the parse cache of one repository between passes."""

    settings: RepositorySettings
    mirror: GitMirror
    store: Store
    max_deletes: int
    sharing: Mapping[str, Collection[str]] = field(default_factory=dict)
    """Owner repository -> repositories it lets declare its shared resources."""
    provider_of: Callable[[str], str | None] = lambda _type: None
    """Resource type -> the provider claiming it now (for the repository's policy)."""
    error_delay: Callable[[int], float] = lambda _failures: 0.0
    """Consecutive failures -> seconds until the engine retries (for ``next_poll_at``)."""
    _commit: CommitSha | None = None
    _desired: DesiredCache = field(default_factory=DesiredCache)
    """The Score files as parsed at :attr:`_commit`, and their desired state."""
    _recorded: RecordedApps | None = None
    """This repository's apps as this sync last recorded them (None: read at the next pass)."""
    _pending: set[str] | None = None
    """The apps the next pass compares (None: every app): those of the files changed since the
    last recorded pass, and those it left unsettled (:meth:`RecordedApps.unsettled`)."""
    _delete_guard: DeleteGuard = field(init=False)
    _runs: dict[str, ParsedRun] = field(default_factory=dict)
    """Golden path run files by path (``settings.golden_path_runs``)."""
    _runs_changed: bool = True
    """Whether a run file changed since what they ask for was last recorded."""
    _requests: dict[str, RunRequest] = field(default_factory=dict)
    _reported: set[str] = field(default_factory=set)
    _conflicted: set[str] = field(default_factory=set)
    """Apps this sync refused for a shared-resource conflict (typed, from the last pass): the
    ones that recover by themselves once the conflict is gone."""

    def __post_init__(self) -> None:
        self._delete_guard = DeleteGuard(
            repository=self.settings.name,
            prune=self.settings.prune,
            max_deletes=self.max_deletes,
            store=self.store,
        )

    def _included(self, path: str) -> bool:
        return any(match_glob(path, pattern) for pattern in self.settings.include)

    def _is_run(self, path: str) -> bool:
        """A golden path run file (one the Score globs select is a Score file)."""
        return not self._included(path) and any(
            match_glob(path, pattern) for pattern in self.settings.golden_path_runs
        )

    def requested(self) -> list[str]:
        """The runs the run files ask for, as the last pass read them."""
        return sorted(self._requests)

    def run_request(self, name: str) -> RunRequest | None:
        """The run file asking for run ``name`` as the last pass read it (None: none)."""
        return self._requests.get(name)

    def _refresh_files(self, commit: CommitSha) -> None:
        last = self._commit
        if last is not None and not self.mirror.has_commit(last):
            last = None  # the mirror lost it (cloned again, pruned): every file read again
        if last is not None:
            changes = [
                c
                for c in self.mirror.changed_files(last, commit)
                if self._included(c.path) or self._is_run(c.path)
            ]
            removed = [c.path for c in changes if c.status == "D"]
            wanted = [c.path for c in changes if c.status != "D"]
        else:
            self._runs.clear()
            self._runs_changed = True
            removed = []
            globs = (*self.settings.include, *self.settings.golden_path_runs)
            wanted = self.mirror.list_files(commit, include=globs)
        files: dict[str, ParsedFile | None] = dict.fromkeys(removed)  # None: gone
        for path in removed:
            self._runs_changed |= self._runs.pop(path, None) is not None
        contents = self.mirror.read_files(commit, wanted)
        budget = NodeBudget()  # the YAML nodes this pass may build, all files together
        # Every file read anew (a start): those parsed by the last process are taken as kept.
        kept = self.store.parsed.read(self.settings.name) if last is None else {}
        keep: dict[str, KeptParse] = {}
        for path in wanted:
            if path not in contents:
                files[path] = None
                self._runs_changed |= self._runs.pop(path, None) is not None
            elif self._is_run(path):
                self._runs[path] = parse_run(path, contents[path], budget=budget)
                self._runs_changed = True
            else:
                parsed, keeping = parse_kept(
                    path, contents[path], budget=budget, kept=kept.get(path)
                )
                files[path] = parsed
                if keeping is not None:
                    keep[path] = keeping
        if last is None:
            self._keep_parsed(files, keep)
        if last is not None:
            touched = self._desired.update(files)
            if self._pending is not None and self._recorded is not None:
                self._pending |= touched | self._recorded.holding(files)
        else:
            self._desired.replace({p: f for p, f in files.items() if f is not None})
            self._pending = None  # every app built anew: compared with what was recorded
        self._commit = commit

    def _keep_parsed(
        self, files: Mapping[str, ParsedFile | None], keep: Mapping[str, KeptParse]
    ) -> None:
        """Keep what a pass reading every file parsed, for the next process: only at a start,
        so a commit costs no write (the files changed since are parsed at the next start). A
        file broken, gone or changed no longer has what it was kept as. A write that fails
        costs the next start a parse of those files, nothing else."""
        valid = [path for path, parsed in files.items() if isinstance(parsed, list)]
        try:
            self.store.parsed.keep(self.settings.name, keep, only=valid)
        except StoreError as exc:
            logger.warning(
                "repository %s: the parsed files were not kept (%s); the next start parses "
                "them again",
                self.settings.name,
                str(exc).split("\n", 1)[0][:300],  # not the rows' bytes SQLAlchemy quotes
            )

    def _request_runs(self, commit: CommitSha) -> tuple[tuple[str, ...], list[str]]:
        """Record what the run files ask for (when one changed): the runs now due, and the
        problems of the run files (shown with the repository's)."""
        self._requests, problems = index_runs(self._runs)
        if not self._runs_changed:
            return (), sorted(problems.values())
        due = self.store.goldenruns.request(
            self.settings.name,
            [
                RunAsked(name=r.name, file=r.file, golden_path=r.golden_path, digest=r.digest)
                for r in self._requests.values()
            ],
            commit=commit,
        )
        self._runs_changed = False
        return tuple(due), sorted(problems.values())

    def run(self, *, now: datetime, check_first: bool = False) -> SyncResult:
        """One pass. ``check_first`` (a poll): fetch only the branch and the status branch,
        which brings objects only when one of them moved (``GitMirror.fetch(if_moved=...)``)."""
        name = self.settings.name
        record = self.store.repositories.get(name)
        if record is not None and record.suspended:
            return SyncResult(commit=None, suspended=True)
        status = self.settings.status
        try:
            commit = self.mirror.fetch(
                if_moved=([status.branch] if status.enabled else []) if check_first else None
            )
            self._refresh_files(commit)
            rewritten_from = self._rewritten(record, commit)
        except SourceError as exc:
            failures = (record.failures if record is not None else 0) + 1
            retry = self.error_delay(failures)
            failures = self.store.repositories.record_error(
                name, error=exc.message, next_poll_at=now + timedelta(seconds=retry)
            )
            # One line when an outage begins; the repository's status shows it meanwhile.
            log = logger.warning if failures == 1 else logger.debug
            log("repository %s: %s (failure %d)", name, exc.message, failures)
            return SyncResult(commit=None, error=exc.message, retry_after=retry)
        if record is not None and record.failures:
            logger.info("repository %s: reachable again at %s", name, commit[:12])
        desired = self._desired
        built: dict[str, dict[str, Any]] = {}
        if self._recorded is None:
            # Every spec is built now, so the store's copies equal to them are never decoded.
            built = {n: app.to_json() for n, app in desired.apps.items()}
            self._recorded = RecordedApps(self.store.apps.all(repository=name, known=built))
            self._pending = None
        recorded = self._recorded
        compared = (
            self._pending
            if self._pending is not None
            else {*desired.apps, *desired.invalid_apps, *recorded}
        )
        comparison = recorded.compare(desired, compared, built=built, forgotten=self._forgotten)
        updates, snapshots = comparison.updates, comparison.snapshots
        taken = self._foreign_names(updates, snapshots, recorded=recorded)
        runs, run_problems = self._request_runs(commit)
        updates = self._policy(updates, snapshots)
        updates = self._namespace_collisions(updates, snapshots)
        updates = self._shared_conflicts(updates, snapshots)
        verdict = self._delete_guard.evaluate(
            recorded=recorded,
            updates=updates,
            commit=commit,
            previous=hold_of(record) if record is not None else None,
            confirmed=record.confirmed_uids if record is not None else (),
            rewritten_from=rewritten_from if self.settings.on_rewrite == "hold" else None,
            persisted=record.guard_basis if record is not None else None,
        )
        hold = verdict.hold
        problems = "\n".join(
            [desired.invalid_files[p] for p in sorted(desired.invalid_files)] + taken + run_problems
        )
        try:
            basis = self.store.repositories.record_sync(
                name,
                commit=commit,
                apps=updates,
                hold=hold,
                confirmed=verdict.confirmed,
                problems=problems or None,
                next_poll_at=now + timedelta(seconds=self.settings.interval),
                rewritten_from=rewritten_from,
                read_confirmed=record.confirmed_uids if record is not None else (),
                guard_basis=verdict.basis,
            )
        except BaseException:
            self._recorded = None  # what was written is not known: read it again
            self._delete_guard.forget()  # and the guard's basis with it
            raise
        self._delete_guard.recorded(basis)
        recorded.remember(updates, snapshots, repository=name, commit=commit)
        self._pending = recorded.unsettled(desired, {*compared, *(u.name for u in updates)})
        reported = set(desired.invalid_files.values()) | set(taken) | set(run_problems)
        for error in sorted(reported - self._reported):
            logger.warning("repository %s: %s", name, error)  # once per broken content
        self._reported = reported
        return SyncResult(
            commit=commit,
            changed_apps=frozenset(u.name for u in updates) | verdict.touched,
            hold=hold.reason if hold is not None else None,
            runs=runs,
        )

    def _forgotten(self, app: AppName) -> bool:
        """Whether an app this sync recorded as removed has no row of this repository any
        more (forgotten once its deletes finished, its name perhaps taken since)."""
        row = self.store.apps.get(app)
        return row is None or row.repository != self.settings.name

    def _rewritten(self, record: RepositoryRecord | None, commit: CommitSha) -> str | None:
        """The last synced commit, when ``commit`` does not descend from it (a force-push or
        an unrelated history); None for an ordinary new commit."""
        last = record.reconciled_commit if record is not None else None
        if last is None or last == commit or self.mirror.is_ancestor(CommitSha(last), commit):
            return None
        logger.warning(
            "repository %s: history of %s was rewritten: %s is not an ancestor of %s%s",
            self.settings.name,
            self.settings.branch,
            last[:12],
            commit[:12],
            "; the deletes it causes are held until confirmed"
            if self.settings.on_rewrite == "hold"
            else "",
        )
        return last

    def _foreign_names(
        self,
        updates: list[AppDesired],
        snapshots: dict[str, DesiredApp | None],
        *,
        recorded: Mapping[str, AppRecord],
    ) -> list[str]:
        """Drop, from this pass, apps whose name another repository owns (invariant 10): the
        owner's app is never touched; the error names the owner's file. Returns the errors."""
        # An app this repository removed may have been forgotten since (its deletes done) and
        # its name taken by another repository: remembering it is no claim on the name.
        owners = self.store.apps.owners(
            [
                u.name
                for u in updates
                if (old := recorded.get(u.name)) is None
                or (old.desired is None and old.error is None)
            ],
            besides=self.settings.name,
        )
        errors: list[str] = []
        for update in [u for u in updates if u.name in owners]:
            repository, path = owners[update.name]
            updates.remove(update)
            snapshots.pop(update.name, None)
            errors.append(
                app_name_taken(
                    app=update.name, path=update.path, owner_repository=repository, owner_path=path
                )
            )
        return errors

    def _policy(
        self, updates: list[AppDesired], snapshots: dict[str, DesiredApp | None]
    ) -> list[AppDesired]:
        """An app outside its repository's policy is ``Invalid`` (keeping its last good spec
        and everything it has)."""
        policy = self.settings.policy
        checked: list[AppDesired] = []
        for update in updates:
            snapshot = snapshots.get(update.name)
            problem = (
                policy_problem(
                    snapshot,
                    repository=self.settings.name,
                    resource_types=(*policy.resource_types, WORKLOAD_TYPE),
                    providers=policy.providers,
                    shared_ids=policy.shared_ids,
                    provider_of=self.provider_of,
                )
                if snapshot is not None and update.error is None
                else None
            )
            if problem is None:
                checked.append(update)
                continue
            snapshots.pop(update.name)
            checked.append(AppDesired(name=update.name, path=update.path, error=problem))
        return checked

    def _namespace_collisions(
        self, updates: list[AppDesired], snapshots: dict[str, DesiredApp | None]
    ) -> list[AppDesired]:
        """A shared ``id`` may contain dots, so ``id: shop.db`` spells the UID of app shop's
        private ``db``: such a declaration is refused, and so is a private resource whose UID
        a shared one already holds. The app is ``Invalid``, keeping everything it has."""
        wanted = {
            r.uid: (name, r)
            for name, app in snapshots.items()
            if app is not None
            for r in app.resources.values()
        }
        recorded = self.store.resources.sharing_of(list(wanted))
        refused: dict[str, str] = {}
        for uid, (name, resource) in sorted(wanted.items()):
            if uid not in recorded:
                continue
            shared, owner = recorded[uid]
            if resource.id is not None and not shared and owner != name:
                refused.setdefault(
                    name,
                    f"resource {resource.name!r}: shared id {resource.id!r} spells {uid}, the "
                    f"private resource of app {owner!r}; choose another id",
                )
            elif resource.id is None and shared:
                refused.setdefault(
                    name,
                    f"resource {resource.name!r}: its UID {uid} is held by a shared resource "
                    f"(id {uid.split('#', 1)[1]!r}); rename the resource",
                )
        checked: list[AppDesired] = []
        for update in updates:
            message = refused.get(update.name)
            if message is None:
                checked.append(update)
                continue
            snapshots.pop(update.name, None)
            checked.append(
                AppDesired(name=update.name, path=update.path, error=f"{update.path}: {message}")
            )
        return checked

    def _shared_conflicts(
        self, updates: list[AppDesired], snapshots: dict[str, DesiredApp | None]
    ) -> list[AppDesired]:
        """Shared resources (same ``id``) between apps and repositories: only this
        repository's newcomers can be refused (:func:`shared_conflicts`); apps whose only
        problem was such a conflict recover once it is gone. Never writes another
        repository's apps."""
        repository = self.settings.name
        declared = {uid for app in snapshots.values() if app is not None for uid in _shared(app)}
        if not declared and not self._conflicted:
            return updates  # no newcomer declares a shared resource, none waits to recover
        by_name = {u.name: u for u in updates}
        # A declaration conflicts only with those of the same shared resource: read the apps
        # declaring one a newcomer declares, the newcomers' own records, and this repository's
        # apps waiting to recover from a conflict (then the apps sharing their resources).
        waiting = self._conflicted - snapshots.keys()
        found = self.store.apps.declaring(declared, named=snapshots.keys() | waiting)
        stored = {a.name: a for a in found}
        theirs: set[str] = set()
        for name in waiting:
            record = stored.get(name)
            if record is not None:
                theirs.update(declared_uids(record.desired))
        if theirs - declared:
            stored.update((a.name, a) for a in self.store.apps.declaring(theirs - declared))
        stored = dict(sorted(stored.items()))  # by name: the first holder named is the same
        incumbents: list[tuple[str, DesiredApp]] = []
        retrying: dict[str, DesiredApp] = {}
        for name, record in stored.items():
            if record.desired is None or not declared_uids(record.desired):
                continue
            old = DesiredApp.from_json(name, record.desired)
            if record.error is None:
                incumbents.append((record.repository, old))
            elif record.repository == repository and name in self._conflicted - snapshots.keys():
                retrying[name] = old  # looked at again as a newcomer
        candidates = {n: a for n, a in snapshots.items() if a is not None} | retrying
        newcomers: dict[str, DesiredApp | None] = {**snapshots, **retrying}
        refused = shared_conflicts(
            declarations(incumbents, newcomers, repository=repository),
            repository=repository,
            sharing=self.sharing,
        )
        self._conflicted = set(refused)
        for name, conflict in refused.items():
            current = by_name.get(name)
            known_app = stored.get(name)
            spec = current.desired if current is not None else None
            if spec is None and known_app is not None:
                spec = known_app.desired
            path = current.path if current is not None else candidates[name].path
            by_name[name] = AppDesired(name=name, path=path, desired=spec, error=conflict.message)
        for name in retrying:
            if name not in refused and name not in by_name:
                by_name[name] = AppDesired(
                    name=name, path=stored[name].path, desired=stored[name].desired
                )
        return list(by_name.values())


def _shared(app: DesiredApp) -> set[str]:
    """The UIDs of the shared resources ``app`` declares."""
    return {r.uid for r in app.resources.values() if r.id is not None}
