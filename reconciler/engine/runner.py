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
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler import logcontext
from reconciler.engine import announce
from reconciler.engine.backoff import next_attempt
from reconciler.engine.metrics import Metrics
from reconciler.engine.processes import ProcessRecorder, processes_dir
from reconciler.engine.steps import RunContext, StepsRun, persist, run_steps
from reconciler.engine.tracing import Span
from reconciler.errors import FencedError, PermanentError, StaleError
from reconciler.plan.hashing import canonical_json, inputs_hash
from reconciler.plan.model import Action, RecordedResource
from reconciler.providers.parameters import BUILTIN_PARAMETERS, RESERVED_PREFIX
from reconciler.providers.rendering import context_for
from reconciler.providers.workflow import Workflow
from reconciler.secrets import is_secret_key, mask_text, secret_values
from reconciler.store import StepEnd

logger = logging.getLogger(__name__)
__all__ = ["RunContext", "run_action", "state_dir_for"]


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
    because the resource changed since the plan (the app is planned again). One
    ``execution`` span holds its steps' spans."""
    resolution = action.resolution
    with ctx.tracer.span(
        "execution",
        **{
            "innominatus.app": action.app,
            "innominatus.resource.uid": action.uid,
            "innominatus.resource.name": action.name,
            "innominatus.resource.type": action.type,
            "innominatus.resource.class": action.class_,
            "innominatus.operation": action.operation,
            "innominatus.provider": resolution.provider.name if resolution else None,
            "innominatus.workflow": resolution.workflow.name if resolution else None,
        },
    ) as span:
        ok = await _run_action(action, record=record, commit=commit, ctx=ctx, span=span)
        span.set("innominatus.execution.outcome", _OUTCOMES[ok])
        return ok


_OUTCOMES = {True: "succeeded", False: "failed", None: "not started"}


async def _run_action(
    action: Action,
    *,
    record: RecordedResource | None,
    commit: str | None,
    ctx: RunContext,
    span: Span,
) -> bool | None:
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
        span.fail("planned in error")  # the problem may quote a parameter's value
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
    span.set("innominatus.execution.id", execution_id)
    span.set("innominatus.execution.attempt", attempt)
    announce.execution_began(ctx.events, action, execution_id, workflow=workflow.name)
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
        await asyncio.to_thread(make_dirs, workdir, state_dir)
    except OSError as exc:
        unmade = (
            f"cannot create the execution's folders under {ctx.data_dir}: "
            f"{exc.strerror or exc}; free space or fix permissions of data_dir (will retry)"
        )
        await persist(
            store.resources.fail,
            execution_id,
            error=unmade,
            next_attempt_at=next_attempt(datetime.now(UTC), attempt, ctx.engine.backoff),
        )
        logger.warning("%s: %s %s failed: %s", action.app, action.operation, action.uid, unmade)
        announce.execution_ended(ctx.events, action, execution_id, state="failed")
        return False
    previous = dict(record.outputs) if record is not None else {}
    secrets = (
        action.secrets
        | secret_values(params)
        | secret_values(previous, record.secret_keys if record is not None else ())
    )
    recorder = ProcessRecorder(processes_dir(ctx.data_dir), execution_id)
    outputs: dict[str, str] = {}
    declared_secret: frozenset[str] = frozenset()
    error: str | None = None
    permanent = False  # a failure no retry can fix: no backoff round
    last_step: StepEnd | None = None  # written with the outcome
    try:
        context = context_for(
            parameters=params,
            steps={},
            previous_parameters=previous_parameters(workflow, record, params),
            previous_outputs=previous,
        )
        done = await run_steps(
            StepsRun(
                execution_id=execution_id,
                app=action.app,
                resource=action.name,
                resource_uid=action.uid,
                operation=action.operation,
                provider=provider,
                workflow=workflow,
                params=params,
                context=context,
                workdir=workdir,
                state_dir=state_dir,
                secrets=frozenset(secrets),
                recorder=recorder,
            ),
            ctx,
            defer_last=True,
        )
        outputs, declared_secret, secrets = done.outputs, done.declared_secret, done.secrets
        error, permanent, last_step = done.error, done.permanent, done.last
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
        announce.execution_ended(ctx.events, action, execution_id, state="interrupted")
        raise
    if error is not None:
        await persist(
            store.resources.fail,
            execution_id,
            error=error,
            next_attempt_at=None
            if permanent
            else next_attempt(datetime.now(UTC), attempt, ctx.engine.backoff),
            exhaust=ctx.engine.max_attempts if permanent else None,
            step=last_step,
        )
        logger.warning("%s: %s %s failed: %s", action.app, action.operation, action.uid, error)
        span.fail(error)  # masked
        _observe(ctx.metrics, workflow.name, "failed", began)
        announce.execution_ended(ctx.events, action, execution_id, state="failed")
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
    await persist(
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
        step=last_step,
    )
    await asyncio.to_thread(shutil.rmtree, workdir, True)
    _observe(ctx.metrics, workflow.name, "succeeded", began)
    announce.execution_ended(ctx.events, action, execution_id, state="succeeded")
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


def make_dirs(*paths: Path) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
