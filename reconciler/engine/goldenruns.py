"""Running golden path runs requested from Git (``kind: GoldenPathRun`` files).

The engine queues ``run:<repository>/<name>`` when a repository pass finds a run due (a new or
changed file; one refused before, when the provider set changes). :class:`GoldenPathRunner`
starts each as a task beside the resource executions — under the same worker limit, tracked
with them so that a drain waits for it and a lost lease ends it. A run is checked first (the
golden path resolved, its typed parameters bound): a refusal is recorded at the file's line
and nothing starts. Then its steps run like any execution's (:func:`run_steps`: sandboxed,
logged, masked); the outcome, with secret outputs masked, is recorded for the status branch.
A run interrupted by a shutdown is recorded ``interrupted`` and is not started again by
itself: a golden path may have done part of its work, so only a changed file repeats it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass

from reconciler import logcontext
from reconciler.engine.processes import ProcessRecorder, processes_dir
from reconciler.engine.queue import Outcome
from reconciler.engine.runner import make_dirs, state_dir_for
from reconciler.engine.steps import RunContext, StepsRun, persist, run_steps
from reconciler.errors import FencedError, InputError, StoreError
from reconciler.plan.goldenruns import RUN_OPERATION, CheckedRun, RunRequest, check_run, run_uid
from reconciler.providers.registry import ProviderSet
from reconciler.providers.rendering import context_for
from reconciler.secrets import MASK, is_secret_key, mask_text, secret_values

logger = logging.getLogger(__name__)


@dataclass
class GoldenPathRunner:
    """Starts due runs; ``requests`` gives a run's file as the last repository pass read it,
    ``providers`` the set loaded now, ``done`` is told each run that ended (for its status)."""

    context: Callable[[], RunContext]
    providers: Callable[[], ProviderSet]
    requests: Callable[[str, str], RunRequest | None]
    slots: asyncio.Semaphore
    running: MutableMapping[str, asyncio.Task[bool | None]]
    done: Callable[[str, str], None]
    again: Callable[[str], None]
    """Queue ``repository/name`` again (its file changed while it ran)."""
    fenced: Callable[[], None]
    later: Callable[[str, float], None] | None = None
    """Queue ``repository/name`` again after a delay (the database failed as it started)."""
    allowed_providers: Callable[[str], Sequence[str]] = lambda _repository: ("*",)
    """A repository's ``policy.providers`` globs (its runs may use only those providers)."""

    def start(self, key: str) -> Outcome:
        """``key`` is ``repository/name``: start that run unless it runs already (its end
        looks at the file again)."""
        repository, _, name = key.partition("/")
        uid = run_uid(repository, name)
        if uid not in self.running:
            self.running[uid] = asyncio.create_task(self._run(repository, name), name=f"run {uid}")
        return Outcome()

    async def _run(self, repository: str, name: str) -> bool | None:
        uid = run_uid(repository, name)
        ok: bool | None = None
        started: str | None = None
        try:
            async with self.slots:
                about = {"innominatus.repository": repository, "innominatus.run": name}
                with self.context().tracer.trace("golden-path-run", **about):  # its steps' trace
                    started = await self._check_and_run(repository, name)
                ok = started is not None
        except asyncio.CancelledError:
            raise
        except FencedError as exc:
            self.fenced()
            logger.warning("golden path run %s/%s stopped: %s", repository, name, exc)
        except StoreError as exc:  # nothing started (outcomes are persisted): try it again
            delay = exc.delay or 5.0
            logger.warning(
                "golden path run %s/%s: %s; trying again in %.0fs", repository, name, exc, delay
            )
            if self.later is not None:
                self.later(f"{repository}/{name}", delay)
        except Exception:
            logger.exception("golden path run %s/%s crashed", repository, name)
        finally:
            self.running.pop(uid, None)
            self.done(repository, name)
            request = self.requests(repository, name)
            if started is not None and request is not None and request.digest != started:
                self.again(f"{repository}/{name}")
        return ok

    async def _check_and_run(self, repository: str, name: str) -> str | None:
        """Check and run the run file's content if due; the digest started, or None."""
        ctx = self.context()
        store = ctx.store
        request = self.requests(repository, name)
        if request is None:
            return None  # the file is gone since the pass that found it due
        record = await asyncio.to_thread(store.goldenruns.get, repository, name)
        if record is None or not record.due or record.digest != request.digest:
            return None
        source = await asyncio.to_thread(store.repositories.get, repository)
        if source is not None and source.suspended:
            return None  # nothing new starts; a resume looks at the run again
        secrets = secret_values(request.parameters)
        try:
            checked = check_run(
                request,
                self.providers(),
                repository=repository,
                secrets=tuple(secrets),
                allowed_providers=self.allowed_providers(repository),
            )
            owners = await asyncio.to_thread(store.apps.owners, [name], besides=repository)
            if name in owners:  # the run's steps get app_name: <name>
                owner, path = owners[name]
                raise InputError(
                    f"run name {name!r} is the name of an app of repository {owner!r} ({path}), "
                    f"and a run's steps act as app {name!r}; an app name belongs to the "
                    f"repository that declared it first: rename this run (metadata.name)",
                    location=request.location,
                )
        except InputError as exc:
            message = mask_text(exc.message, secrets)
            news = await asyncio.to_thread(
                store.goldenruns.refuse, repository, name, digest=request.digest, error=message
            )
            if news:
                logger.warning("repository %s: golden path run refused: %s", repository, message)
            return None
        for key in checked.unknown:
            logger.warning(
                "%s: parameter %r is not declared by golden path %s; it is dropped",
                request.parameter_lines.get(key, request.location),
                key,
                checked.workflow.name,
            )
        provider, workflow = checked.provider, checked.workflow
        execution_id = await asyncio.to_thread(
            store.goldenruns.begin,
            repository,
            name,
            digest=request.digest,
            uid=run_uid(repository, name),
            operation=RUN_OPERATION,
            provider=provider.name,
            provider_version=provider.version,
            workflow=workflow.name,
            inputs_hash=request.digest,
        )
        if execution_id is None:
            return None
        logcontext.bind(app=name, resource=run_uid(repository, name), execution=execution_id)
        logger.info(
            "repository %s: golden path run %s with %s/%s (execution %d)",
            repository,
            name,
            provider.name,
            workflow.name,
            execution_id,
        )
        await self._steps(checked, repository, execution_id, ctx, secrets)
        return request.digest

    async def _steps(
        self,
        checked: CheckedRun,
        repository: str,
        execution_id: int,
        ctx: RunContext,
        secrets: frozenset[str],
    ) -> bool:
        store, name = ctx.store, checked.request.name
        uid = run_uid(repository, name)
        workdir = ctx.data_dir / "work" / str(execution_id)
        state_dir = state_dir_for(ctx.data_dir, uid)
        try:
            await asyncio.to_thread(make_dirs, workdir, state_dir)
            done = await run_steps(
                StepsRun(
                    execution_id=execution_id,
                    app=name,
                    resource=name,
                    resource_uid=uid,
                    operation=RUN_OPERATION,
                    provider=checked.provider,
                    workflow=checked.workflow,
                    params=checked.parameters,
                    context=context_for(parameters=checked.parameters, steps={}),
                    workdir=workdir,
                    state_dir=state_dir,
                    secrets=secrets | secret_values(checked.parameters),
                    recorder=ProcessRecorder(processes_dir(ctx.data_dir), execution_id),
                ),
                ctx,
            )
        except asyncio.CancelledError:
            await asyncio.shield(
                asyncio.to_thread(
                    store.goldenruns.finish,
                    execution_id,
                    error="interrupted by daemon shutdown; change the run file to run it again",
                    interrupted=True,
                )
            )
            raise
        except FencedError:
            raise
        except OSError as exc:
            error = f"cannot create the run's folders under {ctx.data_dir}: {exc.strerror or exc}"
            await persist(store.goldenruns.finish, execution_id, error=error)
            return False
        if done.error is not None:
            await persist(store.goldenruns.finish, execution_id, error=done.error)
            logger.warning(
                "repository %s: golden path run %s failed: %s", repository, name, done.error
            )
            return False
        marked = checked.workflow.secret_outputs | done.declared_secret
        shown = {
            key: MASK
            if is_secret_key(key, marked) or any(s in str(value) for s in done.secrets)
            else value
            for key, value in done.outputs.items()
        }
        await persist(store.goldenruns.finish, execution_id, error=None, outputs=shown)
        await asyncio.to_thread(shutil.rmtree, workdir, True)
        logger.info("repository %s: golden path run %s succeeded", repository, name)
        return True
