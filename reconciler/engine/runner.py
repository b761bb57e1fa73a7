"""Running one action: record the execution, run the steps of the workflow the plan resolved,
record the outcome (ARCHITECTURE §5.5 step contract, §6 invariants 3-4).

Called by the app reconciler for each ready action, under the global worker limit. The plan
says which workflow runs and with which parameters (:mod:`reconciler.plan.binding`); nothing is
resolved again here. An action the plan found in error (no provider, a parameter refused) is
recorded failed at once. A failure no retry can fix (a step type that cannot run here, a
template error, a rendered step config its executor refuses) is recorded failed with every
attempt used: it waits for a new commit or ``innominatus retry``, with no backoff round. Any
other failure is retried with backoff. Database and filesystem work runs in threads; steps run
as asyncio subprocesses through the executors. On cancellation (shutdown past the grace period)
the execution is recorded as interrupted, and the next start retries it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from reconciler import logcontext
from reconciler.engine.backoff import next_attempt
from reconciler.engine.logstream import LogStream
from reconciler.engine.metrics import Metrics
from reconciler.engine.processes import ProcessRecorder, processes_dir
from reconciler.errors import FencedError, PermanentError, StaleError, StoreError
from reconciler.executors.base import StepRequest
from reconciler.executors.confinement import Sandbox
from reconciler.executors.registry import ExecutorRegistry
from reconciler.plan.hashing import canonical_json, inputs_hash
from reconciler.plan.model import Action, RecordedResource
from reconciler.providers.parameters import BUILTIN_PARAMETERS, RESERVED_PREFIX
from reconciler.providers.rendering import context_for, render_outputs, render_step
from reconciler.providers.template import TemplateError
from reconciler.providers.workflow import Workflow
from reconciler.secrets import is_secret_key, mask_text, secret_values
from reconciler.settings import EngineSettings
from reconciler.store import Store

logger = logging.getLogger(__name__)
T = TypeVar("T")
PERSIST_MAX_DELAY = 10.0
"""Longest wait between two attempts to write an execution's outcome to the database."""


@dataclass(frozen=True, slots=True)
class RunContext:
    store: Store
    executors: ExecutorRegistry
    engine: EngineSettings
    data_dir: Path
    metrics: Metrics
    sandbox: Sandbox | None = None
    """Each provider's sandbox policy for its steps; None: steps run unconfined."""


def _identity(action: Action) -> dict[str, str]:
    """The resource an action is about, as the store's calls name it."""
    return {
        "uid": action.uid,
        "app": action.app,
        "name": action.name,
        "type_": action.type,
        "class_": action.class_,
    }


def state_dir_for(data_dir: Path, uid: str) -> Path:
    """Per-resource folder kept across executions (Terraform state and the like)."""
    digest = hashlib.sha256(uid.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in uid)[:80]
    return data_dir / "state" / f"{safe}-{digest}"


async def run_action(
    action: Action,
    *,
    record: RecordedResource | None,
    commit: str | None,
    ctx: RunContext,
) -> bool | None:
    """Run ``action`` to completion; True when it succeeded, None when it did not start
    because the resource changed since the plan (the app is planned again)."""
    store = ctx.store
    logcontext.bind(app=action.app, resource=action.uid)
    if action.release_only:
        await asyncio.to_thread(store.resources.release, action.app, action.uid)
        return True
    if not action.run_workflow:
        await asyncio.to_thread(store.resources.forget, action.uid, reason=action.reason)
        return True
    if action.status == "error" and action.problem is not None:
        # Planned in error (no provider, a parameter refused): recorded once, not retried
        # until an input changes (the planner keeps planning it in error until then).
        await asyncio.to_thread(
            store.resources.fail_unstarted,
            **_identity(action),
            operation=action.operation,
            error=action.problem.message,
            inputs_hash=action.inputs_hash,
            next_attempt_at=None,
        )
        logger.warning(
            "%s: %s %s: %s", action.app, action.operation, action.uid, action.problem.message
        )
        return False
    if action.resolution is None or action.bound is None:
        raise ValueError(f"{action.uid}: planned without providers, so it cannot run")
    raw_params = dict(action.params or {})
    digest = action.inputs_hash or inputs_hash(
        type_=action.type,
        class_=action.class_,
        id_=None,
        params=raw_params,
        annotations=action.annotations,
    )
    provider, workflow = action.resolution.provider, action.resolution.workflow
    params = dict(action.bound)
    try:
        execution_id, attempt = await asyncio.to_thread(
            store.resources.begin,
            **_identity(action),
            operation=action.operation,
            reason=action.reason,
            provider=provider.name,
            provider_version=provider.version,
            workflow=workflow.name,
            inputs_hash=digest,
            commit=commit,
            depends_on=list(action.depends_on),
            shared=action.shared,
            expected=(record.state, record.execution_id) if record is not None else (None, None),
        )
    except StaleError as exc:
        logger.debug("%s: %s", action.app, exc.message)
        return None
    except FencedError:
        raise
    except PermanentError as exc:
        logger.warning("%s: %s %s refused: %s", action.app, action.operation, action.uid, exc)
        return None
    logcontext.bind(execution=execution_id)
    logger.info(
        "%s: %s %s with %s/%s (execution %d, attempt %d)",
        action.app,
        action.operation,
        action.uid,
        provider.name,
        workflow.name,
        execution_id,
        attempt,
    )
    began = time.monotonic()
    workdir = ctx.data_dir / "work" / str(execution_id)
    state_dir = state_dir_for(ctx.data_dir, action.uid)
    try:
        await asyncio.to_thread(_make_dirs, workdir, state_dir)
    except OSError as exc:
        unmade = (
            f"cannot create the execution's folders under {ctx.data_dir}: "
            f"{exc.strerror or exc}; free space or fix permissions of data_dir (will retry)"
        )
        await _persist(
            store.resources.fail,
            execution_id,
            error=unmade,
            next_attempt_at=next_attempt(datetime.now(UTC), attempt, ctx.engine.backoff),
        )
        logger.warning("%s: %s %s failed: %s", action.app, action.operation, action.uid, unmade)
        return False
    previous = dict(record.outputs) if record is not None else {}
    secrets = (
        action.secrets
        | secret_values(params)
        | secret_values(previous, record.secret_keys if record is not None else ())
    )
    recorder = ProcessRecorder(processes_dir(ctx.data_dir), execution_id)
    step_outputs: dict[str, Mapping[str, str]] = {}
    outputs: dict[str, str] = {}
    error: str | None = None
    permanent = False  # a failure no retry can fix: no backoff round
    try:
        declared_secret: frozenset[str] = frozenset()
        context = context_for(
            parameters=params,
            steps={},
            previous_parameters=previous_parameters(workflow, record, params),
            previous_outputs=previous,
        )
        for position, step in enumerate(workflow.steps):
            try:
                executor = ctx.executors.get(step.type)
                rendered = render_step(step, context)
            except TemplateError as exc:
                error = f"step {step.name!r}: template error in {workflow.file}: {exc}"
            except PermanentError as exc:
                error = f"step {step.name!r}: {exc.message}"
            if error is not None:
                error, permanent = mask_text(error, secrets), True
                break
            step_id = await _persist(
                store.executions.step_started,
                execution_id,
                position=position,
                name=step.name,
                type_=step.type,
            )
            request = StepRequest(
                execution_id=execution_id,
                app=action.app,
                resource=action.name,
                resource_uid=action.uid,
                operation=action.operation,
                step_name=step.name,
                step_type=step.type,
                config=rendered.config,
                params=params,
                previous_outputs=step_outputs,
                workdir=workdir,
                state_dir=state_dir,
                provider_dir=provider.path,
                timeout=step.timeout or ctx.engine.step_timeout,
                secrets=secrets,
                env=rendered.env,
                on_process=recorder,
                sandbox=ctx.sandbox.policy_for(provider.name, step.type) if ctx.sandbox else None,
            )
            if rendered.skip:
                await _persist(
                    store.executions.step_finished,
                    step_id,
                    state="skipped",
                    exit_code=None,
                    error=None,
                    log="skipped: its `if:` condition is false",
                    log_truncated=0,
                )
                continue
            stream = LogStream(
                store=store, step_id=step_id, secrets=secrets, limit=ctx.engine.log_limit
            )
            stream.start()
            try:
                result = await executor.run(
                    request, on_log=stream.write, log_limit=ctx.engine.log_limit
                )
                recorder.forget()  # the executor ended the step's whole process group
            except asyncio.CancelledError:
                recorder.forget()
                await asyncio.shield(stream.close())
                await asyncio.shield(
                    asyncio.to_thread(
                        store.executions.step_finished,
                        step_id,
                        state="interrupted",
                        exit_code=None,
                        error="interrupted by daemon shutdown",
                        log=None,
                    )
                )
                raise
            await stream.close()
            # The step's own secret outputs (a generated password it printed) are masked too.
            secrets |= secret_values(
                result.outputs, workflow.secret_outputs | result.secret_outputs
            )
            await _persist(
                store.executions.step_finished,
                step_id,
                state=result.status,
                exit_code=result.exit_code,
                error=mask_text(result.error or "", secrets) or None,
                log=mask_text(result.log, secrets),
                log_truncated=result.log_truncated,
            )
            if result.status != "succeeded":
                error = mask_text(
                    f"step {step.name!r} {result.status}: {result.error or ''}".strip(), secrets
                )
                permanent = result.permanent
                break
            declared_secret |= result.secret_outputs
            step_outputs[step.name] = dict(result.outputs)
            context["steps"][step.name] = {"output": dict(result.outputs)}
            outputs.update(result.outputs)
        if error is None:
            try:
                outputs, marked_secret = render_outputs(workflow, context, outputs)
                declared_secret |= marked_secret
            except TemplateError as exc:
                error = mask_text(f"outputs: template error in {workflow.file}: {exc}", secrets)
                permanent = True
    except FencedError:
        raise  # another daemon owns the database now: this one writes nothing more
    except Exception as exc:  # any failure of a started execution ends in a recorded outcome
        logger.exception("%s: %s %s crashed", action.app, action.operation, action.uid)
        error = mask_text(
            f"execution failed inside innominatus: {type(exc).__name__}: {exc} (will retry)",
            secrets,
        )
    except asyncio.CancelledError:
        await asyncio.shield(
            asyncio.to_thread(
                store.resources.fail,
                execution_id,
                error="interrupted by daemon shutdown; will retry at next start",
                next_attempt_at=None,
                interrupted=True,
            )
        )
        raise
    if error is not None:
        await _persist(
            store.resources.fail,
            execution_id,
            error=error,
            next_attempt_at=None
            if permanent
            else next_attempt(datetime.now(UTC), attempt, ctx.engine.backoff),
            exhaust=ctx.engine.max_attempts if permanent else None,
        )
        logger.warning("%s: %s %s failed: %s", action.app, action.operation, action.uid, error)
        _observe(ctx.metrics, workflow.name, "failed", began)
        return False
    marked = set(workflow.secret_outputs) | set(declared_secret)
    if action.operation == "update" and record is not None:
        # An update re-emits what it changed; outputs it does not mention (a password the
        # create workflow generated) stay as they were.
        outputs = {**record.outputs, **outputs}
        marked |= record.secret_keys
    named = secret_values(outputs, marked)
    # An output carrying a secret value (a URL with the password in it) is sealed too.
    secret_keys = sorted(
        k
        for k, value in outputs.items()
        if is_secret_key(k, marked) or any(secret in str(value) for secret in named)
    )
    short = [k for k in secret_keys if len(str(outputs[k])) < 4]
    if short:
        logger.warning(
            "%s: secret output(s) %s of %s are shorter than 4 characters: masked where they "
            "are shown by name, but not by value where copied; the provider should make them "
            "longer",
            action.app,
            ", ".join(short),
            action.uid,
        )
    await _persist(
        store.resources.succeed,
        execution_id,
        outputs=outputs,
        secret_keys=secret_keys,
        applied_params=raw_params if action.operation != "delete" else None,
        param_secret_keys=[
            key
            for key, value in raw_params.items()
            if any(secret in canonical_json(value) for secret in action.secrets)
        ],
    )
    await asyncio.to_thread(shutil.rmtree, workdir, True)
    _observe(ctx.metrics, workflow.name, "succeeded", began)
    return True


def previous_parameters(
    workflow: Workflow, record: RecordedResource | None, params: Mapping[str, Any]
) -> dict[str, Any]:
    """What ``.previous.parameters`` holds for a step of ``workflow``: the resource's last
    applied params (kept raw in the store, as the plan compares them), but only those the
    workflow declares, as for ``.parameters`` (any with ``accept_undeclared_parameters``; never
    an ``ansible_*`` one), so a param the workflow never declared cannot reach a step this way.
    The built-ins are the engine's, never a param of that name: the resource's identity, the
    same as in ``params``; ``operation`` is not (the one that applied them is not recorded)."""
    if record is None or record.applied_params is None:
        return {}  # nothing applied yet (a create, or a retried create that never succeeded)
    applied = record.applied_params
    declared = {parameter.name for parameter in workflow.parameters}
    kept = {
        key: value
        for key, value in applied.items()
        if (workflow.accept_undeclared_parameters or key in declared)
        and key not in BUILTIN_PARAMETERS
        and not key.lower().startswith(RESERVED_PREFIX)
    }
    identity = {
        key: params[key] for key in sorted(BUILTIN_PARAMETERS - {"operation"}) if key in params
    }
    return kept | identity


def _observe(metrics: Metrics, workflow: str, status: str, began: float) -> None:
    metrics.executions.labels(workflow=workflow, status=status).inc()
    metrics.execution_seconds.labels(workflow=workflow).observe(time.monotonic() - began)


async def _persist(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Write an execution's progress or outcome, waiting out a database outage: the outcome
    is kept in memory and written once the database is back (invariant 4: no execution is
    lost, no state needs a restart to move). One log line when the wait begins and one when
    it ends. A lost lease (:class:`FencedError`) is not waited out."""
    delay, waited = 0.5, 0.0
    while True:
        try:
            result = await asyncio.to_thread(call, *args, **kwargs)
        except FencedError:
            raise
        except StoreError as exc:
            if waited == 0.0:
                logger.warning("%s; keeping the execution's outcome until it is written", exc)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, PERSIST_MAX_DELAY)
            continue
        if waited:
            logger.info("database reachable again: execution progress written after %.0fs", waited)
        return result


def _make_dirs(*paths: Path) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
