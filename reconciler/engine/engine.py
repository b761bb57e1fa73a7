"""The engine: one work queue over repositories, apps and status writes, a global worker
limit for executions, graceful drain (CONVENTIONS #7).

Keys: ``repo:<name>`` (fetch + sync), ``app:<name>`` (reconcile one app), ``run:<repository>/
<name>`` (start a golden path run, :mod:`reconciler.engine.goldenruns`), ``status:<name>``
(write back one repository's changed statuses; queued after every sync too, so a deleted or
rewritten status branch heals at the next poll). Executions run as tasks bounded by
``engine.workers``; at most one per resource (invariant 3). When an execution ends its app is
requeued, so work flows level-triggered: sync -> reconcile -> execute -> reconcile -> ...
With replicas (``replica`` given) the leader's plans offer ready actions through the
:class:`~reconciler.engine.ledger.Ledger` instead, and every replica's
:class:`~reconciler.engine.claims.ClaimLoop` claims them and runs each
(:mod:`reconciler.engine.claimed`).
Used by ``innominatus run`` (continuously) and ``innominatus reconcile`` (until idle).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from reconciler import logcontext
from reconciler.backoff import Backoff
from reconciler.engine import announce
from reconciler.engine.backoff import policy, retry_delay
from reconciler.engine.claimed import ClaimedRunner
from reconciler.engine.claims import ClaimLoop
from reconciler.engine.commitreports import CommitReports
from reconciler.engine.goldenruns import GoldenPathRunner
from reconciler.engine.inflight import InFlight
from reconciler.engine.ledger import Ledger
from reconciler.engine.metrics import EngineStats, Metrics
from reconciler.engine.prefetch import SnapshotPrefetch
from reconciler.engine.queue import Outcome, WorkQueue
from reconciler.engine.reconcile import AppPass, reconcile_app
from reconciler.engine.runner import RunContext, run_action
from reconciler.engine.statuswork import StatusWork
from reconciler.engine.sync import RepositorySync
from reconciler.engine.tracing import NO_TRACING, Tracer
from reconciler.errors import FencedError, PermanentError
from reconciler.executors.confinement import Sandbox
from reconciler.executors.registry import ExecutorRegistry
from reconciler.plan.model import Action, RecordedResource
from reconciler.providers.registry import ProviderSet
from reconciler.settings import Settings
from reconciler.sources.git import GitMirror
from reconciler.status.commitstatus import CommitStatusSender
from reconciler.status.events import EventBus
from reconciler.status.rundocument import run_key
from reconciler.store import ReadyAction, Store

logger = logging.getLogger(__name__)

REFUSAL_BACKOFF = Backoff(first=0.1, cap=10.0, jitter=0.0)
"""Waits before planning again an action refused at its start (second refusal on)."""


class Engine:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        providers: ProviderSet,
        executors: ExecutorRegistry,
        mirrors: Mapping[str, GitMirror],
        one_shot: bool = False,
        metrics: Metrics | None = None,
        commit_statuses: Mapping[str, CommitStatusSender] | None = None,
        sandbox: Sandbox | None = None,
        events: EventBus | None = None,
        tracer: Tracer = NO_TRACING,
        replica: str | None = None,
    ) -> None:
        """``replica``: this process is replica ``replica`` of several on one database."""
        self.settings = settings
        self.tracer = tracer
        """One trace per repository sync and per app reconcile (:mod:`.tracing`)."""
        self.events = events
        """The dashboard's live updates (:mod:`reconciler.engine.announce`); None: not told."""
        self.sandbox = sandbox
        """Steps' isolation and limits (the runtime's, probed at start); None: none."""
        self.store = store
        self.providers = providers
        self.executors = executors
        self.mirrors = dict(mirrors)
        self.one_shot = one_shot
        self.stats = EngineStats()
        self.metrics = metrics or Metrics()
        self._repositories = {r.name: r for r in settings.repositories}
        self._syncs = {
            r.name: RepositorySync(
                settings=r,
                mirror=self.mirrors[r.name],
                store=store,
                max_deletes=settings.engine.max_deletes,
                sharing={other.name: other.share_with for other in settings.repositories},
                provider_of=self._provider_of,
                error_delay=lambda failures: retry_delay(failures, settings.engine.backoff),
            )
            for r in settings.repositories
        }
        for mirror in self.mirrors.values():
            if mirror.on_request is None:
                mirror.on_request = self._count_git_request
        self._commit_statuses = dict(commit_statuses or {})
        """Repository -> the sender of its commit statuses (``commit_status`` configured)."""
        self._synced_once: set[str] = set()
        self._suspended: set[str] = set()
        """Repositories whose last pass found them suspended (their runs wait for resume)."""
        self._fetch_wanted: set[str] = set()
        """Repositories whose next pass fetches in full (any trigger but a poll, an error)."""
        self._attempted: set[str] = set()
        self._running: dict[str, asyncio.Task[bool | None]] = {}
        self._refused: dict[str, int] = {}
        """Resource UID -> consecutive starts refused (stale plan, held, suspended)."""
        self._inflight = InFlight()
        self._slots = asyncio.Semaphore(settings.engine.workers)
        self._detected_at: dict[str, float] = {}
        """Repository -> when a trigger was first seen, until its sync hands it to apps."""
        self._awaiting_start: dict[str, float] = {}
        """App -> when the commit its sync brought was detected, until the app's next
        reconcile (which either starts a step — measured as commit → start — or not)."""
        self.queue = WorkQueue(
            handler=self._handle,
            concurrency=max(4, settings.engine.workers),
            backoff=policy(settings.engine.backoff),
        )
        self.prefetch = SnapshotPrefetch(store=store, queue=self.queue)
        self.commit_reports = CommitReports(
            store=store,
            senders=self._commit_statuses,
            passing=lambda repository: repository in self.queue.pending("repo:"),
            busy=lambda: self.queue.pending("app:") | self.status.due,
        )
        self.status = StatusWork(
            settings=settings,
            store=store,
            mirrors=self.mirrors,
            senders=self._commit_statuses,
            queue=self.queue,
            reports=self.commit_reports,
            metrics=self.metrics,
            stats=self.stats,
            one_shot=one_shot,
        )
        self.leading = replica is None
        """Whether this process leads: a single daemon does; a replica once it took the lead."""
        self.metrics.leading = lambda: self.leading
        self.ready = asyncio.Event()
        self.fenced = asyncio.Event()
        """Set when an execution write was refused as fenced, or by :meth:`fence`: the lease
        is lost and nothing more may start (the lease keeper ends the run)."""
        self.golden_paths = GoldenPathRunner(
            context=self._run_context,
            providers=lambda: self.providers,
            requests=lambda repository, name: self._syncs[repository].run_request(name),
            slots=self._slots,
            running=self._running,
            done=lambda repository, name: self.status.mark(repository, run_key(name)),
            again=lambda key: self.queue.add(f"run:{key}"),
            fenced=self.fenced.set,
            later=lambda key, delay: self.queue.add_after(f"run:{key}", delay),
            allowed_providers=lambda name: self._repositories[name].policy.providers,
        )
        self.claims = self.ledger = None
        if replica is not None:
            run = ClaimedRunner(
                store=store, engine=settings.engine, repositories=self._repositories,
                providers=lambda: self.providers, running=self._running, slots=self._slots,
                context=self._run_context, stopping=lambda: self.fenced.is_set() or self._draining,
            )  # fmt: skip
            self.claims = claims = ClaimLoop(
                store=store, replica=replica, workers=settings.engine.workers,
                execute=run, fenced=self.fenced.set, providers=lambda: self.providers,
            )  # fmt: skip
            self.ledger = Ledger(
                store=store, data_dir=Path(settings.data_dir), ended=self._claimed_ended,
                recovered=self.trigger_app, offered=claims.wake, providers=lambda: self.providers,
            )  # fmt: skip
        self._draining = False

    # triggers ---------------------------------------------------------------------------
    def trigger_repository(self, name: str) -> None:
        """Look at repository ``name`` with a full fetch (a watch event, a webhook, the start,
        an operator's command)."""
        if name in self._repositories:
            self._fetch_wanted.add(name)
            self._detected_at.setdefault(name, time.monotonic())
            self.queue.add(f"repo:{name}")

    def poll_repository(self, name: str) -> None:
        """Look at repository ``name`` after a cheap change check: one fetch of the branch and
        the status branch only, bringing objects only when one moved (the poll interval's tick)."""
        if name in self._repositories:
            self._detected_at.setdefault(name, time.monotonic())
            self.queue.add(f"repo:{name}")

    def _count_git_request(self, op: str, result: str) -> None:
        self.metrics.git_requests.labels(op=op, result=result).inc()

    def trigger_app(self, name: str) -> None:
        self.queue.add(f"app:{name}")

    def _provider_of(self, type_: str) -> str | None:
        provider = self.providers.claims(type_)
        return provider.name if provider is not None else None

    def replace_providers(self, providers: ProviderSet) -> None:
        """Swap the provider set (running executions keep theirs); look at golden runs again."""
        self.providers = providers
        for repository, sync in self._syncs.items():
            for name in sync.requested():
                self.queue.add(f"run:{repository}/{name}")

    # queue handler ----------------------------------------------------------------------
    async def _handle(self, key: str) -> Outcome:
        kind, _, name = key.partition(":")
        if kind == "repo":
            return await self._sync(name)
        if kind == "app":
            return await self._reconcile(name)
        if kind == "status":
            return await self.status.write(name)
        if kind == "run":
            return self.golden_paths.start(name)
        raise PermanentError(f"unknown work key {key!r}")

    async def _sync(self, name: str) -> Outcome:
        sync = self._syncs[name]
        started = time.monotonic()
        check_first = name not in self._fetch_wanted
        self._fetch_wanted.discard(name)
        with self.tracer.trace("sync", **{"innominatus.repository": name}) as span:
            result = await asyncio.to_thread(
                sync.run, now=datetime.now(UTC), check_first=check_first
            )
            span.set("innominatus.commit", result.commit)
            span.set("innominatus.sync.changed_apps", len(result.changed_apps))
            if result.error is not None:
                span.fail(result.error)  # redacted, as in the repository's status
        self.metrics.reconcile_seconds.observe(time.monotonic() - started)
        if result.suspended:
            self._suspended.add(name)
        elif name in self._suspended and result.error is None:
            self._suspended.discard(name)  # resumed: runs skipped meanwhile are looked at
            for run in sync.requested():
                self.queue.add(f"run:{name}/{run}")
        outcome = "error" if result.error is not None else "success"
        self.metrics.reconciles.labels(repository=name, result=outcome).inc()
        self.stats.syncs += 1
        self.status.mark(name)  # the fetch may show the status branch deleted or rewritten
        self.commit_reports.pass_ended(name)
        self._attempted.add(name)
        if self._attempted >= set(self._repositories):
            self.ready.set()  # every repository was looked at once (errors are in the status)
        if result.error is not None:
            self.stats.sync_errors += 1
            self._fetch_wanted.add(name)  # the retry fetches in full
            delay = result.retry_after
            if delay is None:
                record = await asyncio.to_thread(self.store.repositories.get, name)
                failures = record.failures if record is not None else 1
                delay = retry_delay(failures, self.settings.engine.backoff)
            self._detected_at.pop(name, None)
            if self.one_shot:
                return Outcome(error=result.error)
            return Outcome(requeue_after=delay, error=result.error)
        self.commit_reports.seen(name, result.commit)
        apps = set(result.changed_apps)
        if name not in self._synced_once:
            self._synced_once.add(name)
            headers = await asyncio.to_thread(self.store.apps.headers, repository=name)
            apps |= {a.name for a in headers}
            self.status.first_pass(name, apps)
        self.status.due.update(result.changed_apps)
        detected = self._detected_at.pop(name, None)
        if detected is not None and result.changed_apps:
            for app in result.changed_apps:
                self._awaiting_start.setdefault(app, detected)
        for app in sorted(apps):
            self.trigger_app(app)
        for run in result.runs:
            self.queue.add(f"run:{name}/{run}")
        if result.hold:
            logger.warning("repository %s: deletes held: %s", name, result.hold)
        return Outcome()

    async def _reconcile(self, name: str) -> Outcome:
        result: AppPass | None = None
        started: set[str] = set()  # the actions this pass started

        def start(action: Action, record: RecordedResource | None, commit: str | None) -> None:
            started.add(action.uid)
            self._start(action, record, commit)

        try:
            with (
                logcontext.about(app=name),
                self.tracer.trace("reconcile", **{"innominatus.app": name}) as span,
            ):
                result = await reconcile_app(
                    name,
                    store=self.store,
                    engine=self.settings.engine,
                    repositories=self._repositories,
                    running=self._in_hand,
                    start=start,
                    retry_backoff=not self.one_shot,
                    workload=self.providers.claims("workload") is not None,
                    installed=self.providers.installed(),
                    providers=self.providers,
                    load=self.prefetch.load,
                    tracer=self.tracer,
                )
                span.set("innominatus.app.phase", result.phase)
                span.set("innominatus.reconcile.started", result.started)
        finally:
            if self.ledger is None:  # a replica's end is read from the database
                plan = result.plan if result is not None else None
                self._inflight.planned(name, plan, started, self._in_hand)
            # Status on every exit path (Flux's deferred finalizeStatus): a pass that raised
            # (a store error, a planning bug) may have recorded a failed phase, and the
            # status file must say so; the writer re-reads the store when it runs.
            self.status.finalize(name, result)
        if result.changed:
            announce.phase_changed(self.events, app=name, phase=result.phase)
        detected = self._awaiting_start.pop(name, None)
        if result.started and detected is not None:
            self.stats.last_commit_to_start = time.monotonic() - detected
            self.metrics.commit_to_start.observe(self.stats.last_commit_to_start)
        return result.outcome

    # executions -------------------------------------------------------------------------
    def _in_hand(self, uid: str) -> bool:  # running here, or offered to replicas
        return uid in self._running or (self.ledger is not None and uid in self.ledger.offered)

    def _start(self, action: Action, record: RecordedResource | None, commit: str | None) -> None:
        if self.ledger is not None:
            self.ledger.offer(action)
            return
        task = asyncio.create_task(self._execute(action, record, commit), name=f"exec {action.uid}")
        self._running[action.uid] = task

    async def _execute(
        self, action: Action, record: RecordedResource | None, commit: str | None
    ) -> bool | None:
        ok: bool | None = False
        try:
            async with self._slots:
                self.stats.executions_started += 1
                if self.stats.first_execution_at is None:
                    self.stats.first_execution_at = time.monotonic()
                ok = await run_action(action, record=record, commit=commit, ctx=self._run_context())
        except asyncio.CancelledError:
            raise
        except FencedError as exc:
            self.fenced.set()  # not retried: the lease keeper fences the whole engine
            logger.warning("execution of %s %s stopped: %s", action.operation, action.uid, exc)
        except Exception:
            logger.exception("execution of %s %s crashed", action.operation, action.uid)
        finally:
            self._running.pop(action.uid, None)
            await self._ended(action.uid, action.app, shared=action.shared, ok=ok)
        return ok

    async def _ended(self, uid: str, app: str, *, shared: bool, ok: bool | None) -> None:
        """An execution of ``uid`` ended (``ok`` None: it did not start, the resource moved
        on since the plan): count it, plan its app again, wake apps sharing it."""
        self.stats.last_execution_done_at = time.monotonic()
        if ok:
            self.stats.executions_succeeded += 1
        elif ok is None:  # not started: the resource changed since the plan
            self.stats.executions_started -= 1
        else:
            self.stats.executions_failed += 1
        self.status.due.add(app)
        if self._inflight.plan_again(app, uid, ok=ok, running=self._in_hand):
            self._requeue_after_execution(uid, app, started=ok is not None)
        else:  # others of its app's batch still run: the last of them plans it again
            self._refused.pop(uid, None)
        if shared:
            # Other apps declaring it may be waiting for it.
            for other in await asyncio.to_thread(self.store.resources.claimers, uid):
                self.status.due.add(other)
                self.trigger_app(other)

    async def _claimed_ended(self, claimed: ReadyAction) -> None:
        """The leader read the result of an action a replica ran. Not run to an outcome
        (stale, crashed, interrupted): planned again with the refusal backoff."""
        self.stats.executions_started += 1  # _ended takes back one that did not start
        ran = claimed.result in ("succeeded", "failed")
        ok = claimed.result == "succeeded" if ran else None
        await self._ended(claimed.uid, claimed.app, shared=claimed.shared, ok=ok)

    def _run_context(self) -> RunContext:
        return RunContext(
            store=self.store,
            executors=self.executors,
            engine=self.settings.engine,
            data_dir=Path(self.settings.data_dir),
            metrics=self.metrics,
            sandbox=self.sandbox,
            events=self.events,
            tracer=self.tracer,
        )

    def _requeue_after_execution(self, uid: str, app: str, *, started: bool) -> None:
        """Plan the app again. An action refused at its start (the resource moved on since the
        plan, or the store refused it) is planned again at once the first time, then with a
        growing delay, so a refusal that persists never spins the engine."""
        if started:
            self._refused.pop(uid, None)
            self.trigger_app(app)
            return
        refusals = self._refused[uid] = self._refused.get(uid, 0) + 1
        if refusals == 1:
            self.trigger_app(app)
        else:
            self.queue.add_after(f"app:{app}", REFUSAL_BACKOFF.delay(refusals - 1))

    async def fence(self, *, wait: float = 15.0) -> None:
        """The lease is lost: another daemon may own the database. Start nothing more, and
        end every running execution now, without the shutdown grace: cancelling its task
        kills its step's process group (within ``executors.process.KILL_GRACE`` twice).
        Waits up to ``wait`` seconds for them; their records are the new holder's to recover."""
        self.fenced.set()
        await self.queue.stop()
        self.status.dirty.clear()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            logger.warning("fenced: ending %d running execution(s)", len(tasks))
            await asyncio.wait(tasks, timeout=wait)

    @property
    def running(self) -> int:
        return len(self._running)

    # lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.queue.start()
        if not self._repositories:
            self.ready.set()  # nothing to look at: every repository (none) was looked at

    async def settle(self) -> None:
        """Until no work is queued and no execution runs (backoff timers do not count)."""
        while True:
            await self.queue.wait_idle()
            if self._running:
                await asyncio.gather(*list(self._running.values()), return_exceptions=True)
                continue
            await asyncio.sleep(0)
            if not self._running and not self.queue_busy():
                return

    def queue_busy(self) -> bool:
        return not self.queue._idle.is_set()

    async def run_once(self) -> None:
        """One pass over every repository, waiting for everything it started; then write
        the status of every app it touched."""
        self.start()
        try:
            for name in self._repositories:
                self.trigger_repository(name)
            await self.settle()
            for repository in list(self.status.dirty):
                self.queue.add(f"status:{repository}")
            await self.settle()
        finally:
            await self.queue.stop()
            await self.commit_reports.close(grace=15.0)

    async def drain(self, *, grace: float) -> None:
        """Stop taking work; let running executions finish for ``grace`` seconds, then cancel
        them (their step process groups are killed and they are recorded as interrupted)."""
        self._draining = True  # claimed actions not yet started are handed back
        await self.queue.stop()
        tasks = list(self._running.values())
        if tasks:
            logger.info("draining %d running execution(s), up to %.0fs", len(tasks), grace)
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        for repository in list(self.status.dirty):
            await self.status.write(repository)
        await self.commit_reports.close(grace=5.0)
