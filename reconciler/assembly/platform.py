"""The platform repository, followed: its ``platform.yaml`` is the provider set's source when
``platform:`` is configured (issue 16, "The platform itself in Git").

Owns :class:`PlatformFollower`. Each new commit of the branch is read (committed objects of
the :class:`GitMirror`, as app repositories are), checked (:mod:`reconciler.settings.platform`)
and offered to the catalogue, which verifies and loads it as a reload does and swaps it in
atomically; a set that would leave live resources without a provider is refused too
(:func:`reconciler.plan.providerchange.lost_types`). A refused commit changes nothing: the
previous set keeps running, the refusal is logged, kept for ``/api/v1/providers``, recorded
on the ``platform`` repository row, and written to ``platform.yaml`` on the repository's own
status branch. The accepted commit is the row's ``good_commit``.

At start (:meth:`PlatformFollower.start`) the branch's tip is loaded; when the repository is
unreachable or its tip is refused, the last good commit recorded in the database is loaded
from the local mirror instead, and when there is none the daemon does not start (a
``ConfigError`` saying why): it never runs with an empty set, which would show every resource
as having no provider. :func:`follow_platform` then polls (and, for a local repository,
watches) it. Called by the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from reconciler.assembly.catalog import ProviderCatalog
from reconciler.backoff import Backoff
from reconciler.engine.engine import Engine
from reconciler.errors import ConfigError, InnominatusError, SourceError, StoreError
from reconciler.plan.providerchange import lost_types
from reconciler.providers.registry import ProviderSet
from reconciler.settings import PlatformSettings, Settings
from reconciler.settings.platform import catalog_sources, read_platform_file
from reconciler.settings.platformrepo import PLATFORM
from reconciler.sources.git import GitMirror
from reconciler.sources.redact import redact_url
from reconciler.sources.watch import watch_repositories
from reconciler.status.platform import PlatformOutcome, write_platform_status
from reconciler.store import Store
from reconciler.types import CommitSha

logger = logging.getLogger(__name__)


class PlatformFollower:
    """The platform repository's mirror, and which of its commits the catalogue runs.
    Blocking (git, SQL, provider loads): call from a thread, one call at a time."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: ProviderCatalog,
        store: Store,
        environ: Mapping[str, str],
    ) -> None:
        assert settings.platform is not None
        platform = self.platform = settings.platform
        self._settings = settings
        self._catalog = catalog
        self._store = store
        self._environ = environ
        self._unwritten: Callable[[], object] | None = None
        """A record of the outcome the database refused (an outage): written by the next poll."""
        self.leading: Callable[[], bool] = lambda: not settings.engine.replicas
        """Whether this process leads and so records the outcome (its row and status branch):
        every replica follows the platform repository for its provider set, only the leader
        writes what it found (set to the engine's once there is one)."""
        self._token = environ.get(platform.token_env) if platform.token_env else None
        if platform.token_env and not self._token:
            raise ConfigError(
                f"platform.token_env: environment variable {platform.token_env} is not set; "
                "export it or remove token_env"
            )
        self.mirror = GitMirror(
            name=PLATFORM,
            url=platform.repository,
            branch=platform.branch,
            data_dir=Path(settings.data_dir),
            token=self._token,
            ssh_key=platform.ssh_key,
        )
        self.outcome = PlatformOutcome(
            repository=redact_url(platform.repository),
            branch=platform.branch,
            path=platform.path,
            commit=None,
            loaded_commit=None,
        )
        catalog.platform = self.describe
        store.repositories.register(
            name=PLATFORM, url=redact_url(platform.repository), branch=platform.branch
        )

    @property
    def providers(self) -> ProviderSet:
        """The running set."""
        current = self._catalog.current
        assert current is not None
        return current.providers

    def describe(self) -> dict[str, object]:
        """The ``platform`` entry of ``/api/v1/providers``."""
        document = self.outcome.document()
        document.pop("updated_at")
        return document

    def _offer(self, commit: CommitSha) -> bool:
        """Load ``commit``'s file into the catalogue; whether the set changed. Refused: an
        InnominatusError saying why, and nothing changed."""
        path = self.platform.path
        content = self.mirror.read_files(commit, [path]).get(path)
        file = read_platform_file(
            content,
            path=path,
            token_envs=self.platform.token_envs,
            step_token_envs=self._settings.step_token_envs,
        )
        sources = catalog_sources(
            file, platform=self.platform, repository=self.platform.repository, commit=commit
        )
        tokens = {
            s.name: (
                self._environ.get(s.token_env)
                if s.token_env
                else self._token
                if s.repository == self.platform.repository
                else None
            )
            for s in sources
        }

        def guard(candidate: ProviderSet) -> list[str]:
            return lost_types(candidate, self._store.resources.all())

        return self._catalog.offer(
            sources, step_defaults=file.step_defaults, tokens=tokens, guard=guard
        )

    def _accepted(self, commit: CommitSha) -> None:
        current = self._catalog.current
        assert current is not None
        self.outcome = replace(
            self.outcome,
            commit=commit,
            loaded_commit=commit,
            refused=None,
            fingerprint=current.fingerprint,
            providers=tuple(
                (name, p.version) for name, p in sorted(current.providers.providers.items())
            ),
        )
        self._write(
            lambda: self._store.repositories.record_seen(PLATFORM, commit=commit, next_poll_at=None)
        )

    def _write(self, write: Callable[[], object]) -> None:
        """Record the outcome on the ``platform`` row. In a database outage the write is kept
        and made by the next poll: the set is swapped already and must reach the engine (an
        exception here would end the following, and the daemon with it)."""
        if not self.leading():
            self._unwritten = None
            return
        self._unwritten = write
        try:
            write()
        except StoreError as exc:
            logger.warning("platform repository: %s; recorded at the next poll", exc.message)
        else:
            self._unwritten = None

    def _refused(self, commit: CommitSha | None, why: str) -> None:
        if (commit, why) != (self.outcome.commit, self.outcome.refused):
            logger.error(
                "platform repository %s: %s at %s refused: %s; %s",
                self.outcome.repository,
                self.platform.path,
                (commit or "?")[:12],
                why,
                "the last good provider set keeps running"
                if self.outcome.loaded_commit
                else "no provider set runs",
            )
        self.outcome = replace(self.outcome, commit=commit, refused=why)
        self._write(
            lambda: self._store.repositories.record_error(PLATFORM, error=why, next_poll_at=None)
        )

    def start(self) -> None:
        """Load the tip's set, else the last good commit's; a ConfigError when neither loads."""
        try:
            tip: CommitSha | None = self.mirror.fetch()
        except SourceError as exc:
            tip, why = None, f"cannot fetch the platform repository: {exc.message}"
        if tip is not None:
            try:
                self._offer(tip)
            except InnominatusError as exc:
                why = exc.message
            else:
                self._accepted(tip)
                self.write_status()
                return
        record = self._store.repositories.get(PLATFORM)
        good = record.good_commit if record is not None else None
        if good is not None and good != tip and self._mirror_has(good):
            try:
                self._offer(CommitSha(good))
            except InnominatusError as exc:
                logger.error("platform: the last good commit %s loads no more: %s", good, exc)
            else:
                self._accepted(CommitSha(good))
                self._refused(tip, why)
                logger.warning(
                    "platform: started with the provider set of the last good commit %s",
                    good[:12],
                )
                self.write_status()
                return
        self.close()
        self._catalog.close()
        raise ConfigError(
            f"platform: no provider set can be loaded ({why}), and no last good commit of "
            f"{self.outcome.repository} is recorded on this host; fix the repository or its "
            "access and start again (the daemon never runs without its providers)"
        )

    def _mirror_has(self, commit: str) -> bool:
        try:
            return self.mirror.has_commit(CommitSha(commit))
        except SourceError:
            return False

    def sync(self) -> bool:
        """One poll: a new tip (or a refused one, tried again: a provider source may be back)
        is offered; whether the running set changed."""
        status = self.platform.status.branch
        if self._unwritten is not None:
            self._write(self._unwritten)
        try:
            tip = self.mirror.fetch(if_moved=[status])
        except SourceError as exc:
            message = exc.message
            self._write(
                lambda: self._store.repositories.record_error(
                    PLATFORM, error=message, next_poll_at=None
                )
            )
            logger.warning("platform repository: %s", exc.message)
            return False
        changed = False
        if tip != self.outcome.commit or self.outcome.refused is not None:
            try:
                changed = self._offer(tip)
            except InnominatusError as exc:
                self._refused(tip, exc.message)
            else:
                self._accepted(tip)
                if changed:
                    logger.info(
                        "platform: provider set %s of %s loaded",
                        (self.outcome.fingerprint or "")[:12],
                        tip[:12],
                    )
        self.write_status()
        return changed

    def write_status(self) -> None:
        """``platform.yaml`` on the status branch, when it differs; a failed push is logged
        (the next poll writes again)."""
        if not self.platform.status.enabled or not self.leading():
            return
        try:
            write_platform_status(
                mirror=self.mirror, branch=self.platform.status.branch, outcome=self.outcome
            )
        except SourceError as exc:
            logger.warning("platform status write-back failed: %s", exc.message)

    def close(self) -> None:
        self.mirror.close()


async def _apps(engine: Engine, stop: asyncio.Event) -> list[str]:
    """Every app's name, waiting out a database outage (each is reconciled with a new set)."""
    delay = 0.5
    while not stop.is_set():
        try:
            return [app.name for app in await asyncio.to_thread(engine.store.apps.all)]
        except StoreError as exc:
            logger.warning("platform: %s; reconciling the apps once it answers", exc.message)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    return []


async def follow_platform(
    follower: PlatformFollower, *, engine: Engine, stop: asyncio.Event
) -> None:
    """Poll (every ``platform.interval``, with jitter) and watch the platform repository until
    ``stop``; a changed set is handed to the engine and every app reconciled with it. Running
    executions keep the workflow they started with."""
    platform: PlatformSettings = follower.platform
    wanted = asyncio.Event()
    poll = Backoff(first=platform.interval, cap=platform.interval, jitter=0.1)
    watched = follower.mirror.watch_path if platform.watch else None
    watcher = asyncio.create_task(
        watch_repositories(
            {PLATFORM: watched} if watched is not None else {},
            on_change=lambda _name: wanted.set(),
            stop=stop,
        ),
        name="platform-watcher",
    )
    try:
        while not stop.is_set():
            wanted.clear()
            if await asyncio.to_thread(follower.sync):
                engine.replace_providers(follower.providers)
                for app in await _apps(engine, stop) if engine.leading else []:
                    engine.trigger_app(app)
            delay = poll.delay(1)
            waits = [asyncio.create_task(wanted.wait()), asyncio.create_task(stop.wait())]
            await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
            if wanted.is_set():
                await asyncio.sleep(0.05)  # let a burst of ref updates settle
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
