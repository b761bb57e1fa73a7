"""Wiring for the daemon and the one-shot pass: settings -> store, providers, mirrors, engine,
scheduler, watchers, API server; signals and graceful shutdown.

Called by the CLI only. ``run_daemon`` serves until SIGTERM/SIGINT, then drains: no new work,
running steps get ``engine.shutdown_grace`` to finish, the rest are killed and recorded as
interrupted; the next start retries them. ``run_once`` is ``innominatus reconcile``.

Startup problems an operator causes (a taken port, a data dir or SQLite database this user
cannot write) are found before anything starts and raised as one ``ConfigError`` naming the
setting and the fix (:func:`check_paths`, :func:`listen_api`), never as a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from reconciler.api.app import create_app
from reconciler.api.webhooks import create_webhook_app
from reconciler.assembly.catalog import ProviderCatalog
from reconciler.assembly.forges import commit_status_senders
from reconciler.assembly.heap import freeze_when_ready, tune_collector
from reconciler.assembly.hooks import webhook_receiver
from reconciler.assembly.leading import (
    Duties,
    duty_crashed,
    lead_when_free,
    recover_single,
    take_duties,
)
from reconciler.assembly.paths import check_paths
from reconciler.assembly.platform import PlatformFollower, follow_platform
from reconciler.assembly.serving import (
    API_SHUTDOWN_GRACE,
    QuietServer,
    ThreadedServer,
    listen_api,
    listen_webhooks,
    on_loop,
)
from reconciler.assembly.steptokens import EnvironmentTokens, MirrorWriters, step_token_envs
from reconciler.engine.engine import Engine
from reconciler.engine.lease import LeaseKeeper
from reconciler.engine.metrics import Metrics
from reconciler.engine.tracing import make_tracer
from reconciler.errors import ConfigError, StoreError
from reconciler.executors.confinement import Sandbox
from reconciler.executors.host import holder_gone, holder_id, replica_name
from reconciler.executors.registry import ExecutorRegistry, default_registry
from reconciler.providers.registry import ProviderSet
from reconciler.settings import Settings
from reconciler.sources.git import GitMirror
from reconciler.sources.redact import redact_url
from reconciler.sources.watch import watch_repositories
from reconciler.status.events import EventBus
from reconciler.status.views import StatusViews
from reconciler.store import Store, load_or_create_key, open_store
from reconciler.store.database import sqlite_file

logger = logging.getLogger("reconciler")


@dataclass
class Components:
    settings: Settings
    store: Store
    catalog: ProviderCatalog
    executors: ExecutorRegistry
    mirrors: dict[str, GitMirror]
    sandbox: Sandbox | None = None
    """How steps are isolated and limited on this host (probed once by :func:`build`)."""
    platform: PlatformFollower | None = None
    """The platform repository the provider set comes from, when ``platform:`` is set."""

    @property
    def providers(self) -> ProviderSet:
        assert self.catalog.current is not None
        return self.catalog.current.providers

    def close(self) -> None:
        self.catalog.close()
        if self.platform is not None:
            self.platform.close()
        for mirror in self.mirrors.values():
            mirror.close()
        self.store.close()


def build(settings: Settings, *, lock: bool) -> Components:
    """Open the store (migrated, and locked for a daemon), load providers, make mirrors.
    The sandbox is probed first: ``sandbox.mode: required`` without bubblewrap stops here."""
    check_paths(settings)
    database = sqlite_file(settings.database)
    sandbox = Sandbox.configure(
        settings.sandbox,
        providers=settings.providers,
        data_dir=Path(settings.data_dir),
        secret=[database.parent] if database is not None else [],
    )
    logger.info("sandbox: %s", sandbox.summary())
    key = load_or_create_key(
        Path(settings.data_dir),
        env_value=settings.secret_key.get_secret_value() if settings.secret_key else None,
    )
    store = open_store(settings.database, secret_key=key)
    try:
        store.upgrade()
        if lock and settings.engine.replicas:
            store.join(name=replica_name(), holder=holder_id(), ttl=settings.engine.lease_ttl)
        elif lock:
            store.lock(holder=holder_id(), ttl=settings.engine.lease_ttl, holder_gone=holder_gone)
        executors = default_registry(
            collaborators={
                "git_writer_factory": MirrorWriters(
                    data_dir=Path(settings.data_dir), token_envs=step_token_envs(settings)
                ),
                "step_tokens": EnvironmentTokens(
                    allowed=step_token_envs(settings), environ=os.environ
                ),
            }
        )
        catalog = ProviderCatalog.configured(settings, executors=executors)
        platform = None
        if settings.platform is not None:
            platform = PlatformFollower(
                settings=settings, catalog=catalog, store=store, environ=os.environ
            )
            platform.start()
        else:
            catalog.reload()
        if catalog.current is None:
            raise ConfigError(catalog.refusal or "no provider set could be loaded")
        mirrors = {}
        for repo in settings.repositories:
            token = None
            if repo.token_env:
                token = os.environ.get(repo.token_env)
                if not token:
                    raise ConfigError(
                        f"repositories.{repo.name}.token_env: environment variable "
                        f"{repo.token_env} is not set; export it or remove token_env"
                    )
            mirrors[repo.name] = GitMirror(
                name=repo.name,
                url=repo.url,
                branch=repo.branch,
                data_dir=Path(settings.data_dir),
                token=token,
                ssh_key=repo.ssh_key,
            )
            store.repositories.register(
                name=repo.name, url=redact_url(repo.url), branch=repo.branch
            )
    except BaseException:
        store.close()
        raise
    return Components(settings, store, catalog, executors, mirrors, sandbox, platform)


def _with_sandbox(
    describe: Callable[[], dict[str, Any]], sandbox: Sandbox | None
) -> Callable[[], dict[str, Any]]:
    """The ``/api/v1/providers`` document, with how steps are sandboxed on this host."""

    def document() -> dict[str, Any]:
        return {**describe(), "sandbox": sandbox.describe() if sandbox else {"mode": "off"}}

    return document


def _engine(components: Components, *, one_shot: bool, events: EventBus | None = None) -> Engine:
    replica = components.store.replica
    name = replica.name.removeprefix("replica:") if replica is not None else None
    metrics = Metrics(
        resources=components.store.resources.all,
        repositories=components.store.repositories.all,
        apps=components.store.apps.phase_counts,
        replica=name,
    )
    return Engine(
        settings=components.settings,
        store=components.store,
        providers=components.providers,
        executors=components.executors,
        mirrors=components.mirrors,
        one_shot=one_shot,
        metrics=metrics,
        commit_statuses=commit_status_senders(
            components.settings, metrics=metrics, environ=os.environ
        ),
        sandbox=components.sandbox,
        events=events,
        tracer=make_tracer(components.settings.tracing),
        replica=name,
    )


def _threads(settings: Settings) -> None:
    """Git, SQL and file work runs in threads: size the pool for the worker limit (each
    execution holds a thread during its database calls), not for the CPU count."""
    tune_collector()
    workers = settings.engine.workers * 3 + 8
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="innominatus")
    )


async def run_once(components: Components) -> Engine:
    """``innominatus reconcile``: one pass over every repository, waiting for what it started."""
    _threads(components.settings)
    if components.settings.engine.replicas:
        raise ConfigError(
            "engine.replicas: replicas reconcile continuously and share their executions; "
            "`innominatus reconcile` runs one pass of a single daemon only. Use "
            "`innominatus run`, or remove engine.replicas"
        )
    recovered = await recover_single(components.store, data_dir=Path(components.settings.data_dir))
    if recovered:
        logger.warning("recovered interrupted executions of: %s", ", ".join(recovered))
    engine = _engine(components, one_shot=True)
    keeper = LeaseKeeper(
        store=components.store, engine=engine, ttl=components.settings.engine.lease_ttl
    )
    freeze = asyncio.create_task(freeze_when_ready(engine.ready, collect=False), name="gc-freeze")
    try:
        await keeper.guard(engine.run_once())
    finally:
        freeze.cancel()
    return engine


async def _reload_providers(
    catalog: ProviderCatalog, engine: Engine, wanted: asyncio.Event
) -> None:
    """Hot reload: verify a new provider set in full and swap it in; a bad one is refused and
    the last good set keeps serving. Running executions keep the workflow they started with."""
    while True:
        await wanted.wait()
        await asyncio.sleep(0.2)  # let a burst of file changes settle
        wanted.clear()
        if await asyncio.to_thread(catalog.reload) and catalog.current is not None:
            engine.replace_providers(catalog.current.providers)
            logger.info("provider set %s loaded", catalog.current.fingerprint[:12])
            if not engine.leading:
                continue
            for app in await asyncio.to_thread(engine.store.apps.all):
                engine.trigger_app(app.name)


async def run_daemon(
    components: Components,
    *,
    on_listening: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    sockets: list[socket.socket] | None = None,
) -> None:
    """``innominatus run``: watch, poll, reconcile, execute, write back, serve, until stopped.
    ``sockets``: the API's, from :func:`listen_api` (bound here when not given)."""
    settings = components.settings
    # Before anything starts: an API meant to be authenticated never serves without tokens,
    # and a taken port is reported before any work begins.
    api_tokens = settings.api.bearer_tokens(os.environ) if settings.api.enabled else ()
    if settings.webhooks.enabled:  # unset secrets stop it here, as a missing token does
        settings.webhooks.secrets(os.environ, settings.repositories)
    for repo in settings.repositories:  # so do unset forge tokens of commit statuses
        if repo.commit_status is not None:
            repo.commit_status.token(os.environ, repository=repo.name)
    if sockets is None:
        sockets = listen_api(settings)
    hook_sockets = listen_webhooks(settings)
    _threads(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    events = EventBus()  # the dashboard's live updates, closed first at shutdown
    store = components.store
    engine = _engine(components, one_shot=False, events=events)
    duties: list[Duties] = []
    if engine.claims is None:  # a single daemon: it leads
        recovered = await recover_single(store, data_dir=Path(settings.data_dir))
        duties.append(
            take_duties(
                settings=settings,
                store=store,
                engine=engine,
                mirrors=components.mirrors,
                stop=stop,
                recovered=recovered,
            )
        )
        keeper = LeaseKeeper(store=store, engine=engine, ttl=settings.engine.lease_ttl)
        background = [asyncio.create_task(keeper.run(on_lost=stop.set), name="lease")]
    else:  # one replica of several: it executes, and leads when the lead is free
        keeper = LeaseKeeper(
            store=store, engine=engine, ttl=settings.engine.lease_ttl, lease=store.replica
        )
        leader = lead_when_free(
            settings=settings,
            store=store,
            engine=engine,
            mirrors=components.mirrors,
            stop=stop,
            duties=duties,
        )
        background = [
            asyncio.create_task(keeper.run(on_lost=stop.set), name="replica-lease"),
            asyncio.create_task(engine.claims.run(stop), name="claims"),
            lead := asyncio.create_task(leader, name="lead"),
        ]
        lead.add_done_callback(lambda task: duty_crashed(task, stop))

    reload_wanted = asyncio.Event()
    catalog = components.catalog
    provider_watcher = asyncio.create_task(
        watch_repositories(
            catalog.watch_paths, on_change=lambda _name: reload_wanted.set(), stop=stop
        ),
        name="provider-watcher",
    )
    provider_polls = AsyncIOScheduler()
    if catalog.sources:  # the configuration's, or the platform repository's at start
        provider_polls.add_job(
            reload_wanted.set,
            "interval",
            seconds=min(p.interval for p in catalog.sources),
            id="providers",
            coalesce=True,
        )
    provider_polls.start()
    reloader = asyncio.create_task(
        _reload_providers(catalog, engine, reload_wanted), name="provider-reload"
    )
    followers = [reloader, provider_watcher, *background]
    followers.append(asyncio.create_task(freeze_when_ready(engine.ready), name="gc-freeze"))
    if components.platform is not None:
        components.platform.leading = lambda: engine.leading
        follower = follow_platform(components.platform, engine=engine, stop=stop)
        followers.append(asyncio.create_task(follower, name="platform"))

    hooks: ThreadedServer | None = None
    if settings.webhooks.enabled:
        receiver = webhook_receiver(
            settings,
            trigger=on_loop(loop, _trigger_on_leader(engine)),
            reload_providers=on_loop(loop, reload_wanted.set),
            record=components.store.repositories.record_webhook,
            registry=engine.metrics.registry,
        )
        hooks = ThreadedServer(create_webhook_app(receiver), sockets=hook_sockets, name="webhooks")
        await hooks.start()
        logger.info("webhook receiver at http://%s:%d/hooks/", settings.webhooks.host, hooks.port)

    try:  # the receiver's thread stops with the daemon, however it ends
        server: QuietServer | None = None
        server_task: asyncio.Task[None] | None = None
        if settings.api.enabled:
            asgi = create_app(
                views=StatusViews(
                    components.store, providers=_with_sandbox(catalog.describe, components.sandbox)
                ),
                readiness=lambda: (
                    None
                    if engine.ready.is_set() or not engine.leading
                    else "first sync not finished"
                ),
                tokens=api_tokens,
                metrics=engine.metrics.exposition,
                allowed_hosts=settings.api.host_names(),
                events=events,
                sse_clients=engine.metrics.sse_client,
            )
            config = uvicorn.Config(
                asgi,
                host=settings.api.host,
                port=settings.api.port,
                log_level="warning",
                lifespan="off",
                timeout_graceful_shutdown=API_SHUTDOWN_GRACE,
            )
            server = QuietServer(config)
            server_task = asyncio.create_task(server.serve(sockets=sockets), name="api")
            while not server.started and not server_task.done():
                await asyncio.sleep(0.01)
            if server_task.done():
                await server_task  # re-raise the bind error
            sockets = [s for srv in server.servers for s in srv.sockets]
            port = sockets[0].getsockname()[1] if sockets else settings.api.port
            url = f"http://{settings.api.host}:{port}/"
            logger.info("status endpoint at %s", url)
            if on_listening is not None:
                on_listening(url)
        elif on_listening is not None:
            on_listening("")

        await stop.wait()
        events.close()  # ends every live-update stream: none holds the API's shutdown
        logger.info("shutting down: draining work")
        provider_polls.shutdown(wait=False)
        for duty in duties:
            if duty.scheduler.running:
                duty.scheduler.shutdown(wait=False)
        await engine.drain(grace=settings.engine.shutdown_grace)
        for duty in duties:
            await duty.end()
        for task in followers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if server is not None and server_task is not None:
            server.should_exit = True
            await server_task
    finally:
        if hooks is not None:
            await hooks.stop()
    logger.info("stopped")
    keeper.raise_if_lost()
    for duty in duties:
        if duty.keeper is not None:
            duty.keeper.raise_if_lost()


def _refresh(store: Store, name: str) -> None:
    with contextlib.suppress(StoreError):
        store.control.refresh(name)


def _trigger_on_leader(engine: Engine) -> Callable[[str], None]:
    """A webhook's trigger: the engine's when this process leads, else a control row the
    leading replica acts on within a second."""

    def trigger(name: str) -> None:
        if engine.leading:
            engine.trigger_repository(name)
        else:  # a database write: off the loop, best effort (the poll finds the commit)
            asyncio.get_running_loop().run_in_executor(None, _refresh, engine.store, name)

    return trigger
