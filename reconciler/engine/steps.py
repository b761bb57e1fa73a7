"""The steps of one started execution: render, run, record each; collect the outputs.

The one step loop of the engine, shared by resource executions (:mod:`reconciler.engine.
runner`) and golden path runs (:mod:`reconciler.engine.goldenruns`): each step's config is
rendered against the parameters and earlier steps' outputs, run by its executor (in the
sandbox its provider's policy says), and its status, exit code and masked log written as it
ends. The first failing step ends the loop. A cancellation (shutdown past the grace period)
records the running step as interrupted and propagates; the caller records the execution.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from reconciler.engine import announce
from reconciler.engine.logstream import LogStream
from reconciler.engine.metrics import Metrics
from reconciler.engine.processes import ProcessRecorder
from reconciler.engine.tracing import NO_TRACING, Attribute, Tracer
from reconciler.errors import FencedError, PermanentError, StoreError
from reconciler.executors.base import StepRequest
from reconciler.executors.confinement import Sandbox
from reconciler.executors.registry import ExecutorRegistry
from reconciler.providers.provider import Provider
from reconciler.providers.rendering import render_outputs, render_step
from reconciler.providers.template import TemplateError
from reconciler.providers.workflow import Workflow
from reconciler.secrets import TextMask, mask_text, secret_values
from reconciler.settings import EngineSettings
from reconciler.status.events import EventBus
from reconciler.store import StepEnd, Store

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
    events: EventBus | None = None
    """The dashboard's live updates (:mod:`reconciler.engine.announce`); None: not told."""
    tracer: Tracer = NO_TRACING
    """Spans for executions and steps (:mod:`reconciler.engine.tracing`)."""


@dataclass(frozen=True, slots=True)
class StepsRun:
    """What the steps of one execution run with: who they are about, the workflow, its
    bound parameters and template context, the folders, the values to mask."""

    execution_id: int
    app: str
    resource: str
    resource_uid: str
    operation: str
    provider: Provider
    workflow: Workflow
    params: Mapping[str, Any]
    context: dict[str, Any]
    workdir: Path
    state_dir: Path
    secrets: frozenset[str]
    recorder: ProcessRecorder


@dataclass(frozen=True, slots=True)
class StepsOutcome:
    outputs: dict[str, str]
    """The workflow's outputs (rendered), when every step succeeded."""
    declared_secret: frozenset[str]
    """Output keys the steps or the workflow marked secret."""
    secrets: frozenset[str]
    """The values to mask, grown by the steps' own secret outputs."""
    error: str | None = None
    """Why the execution failed (masked), or None."""
    permanent: bool = False
    """The failure needs a change of input: no retry by backoff."""
    last: StepEnd | None = None
    """With ``defer_last``: the end of the last step, when it succeeded, not yet written; the
    caller writes it with the execution's outcome, in one transaction."""


async def run_steps(run: StepsRun, ctx: RunContext, *, defer_last: bool = False) -> StepsOutcome:
    """Run ``run``'s steps in order; the outcome. Raises only on cancellation and on
    errors of the store or of innominatus itself (the caller records those). ``defer_last``:
    the last step's end, when it succeeded, is left to the caller (:attr:`StepsOutcome.last`),
    which writes it with the outcome: one transaction fewer per execution."""
    store, workflow, context = ctx.store, run.workflow, run.context
    secrets = run.secrets
    declared_secret: frozenset[str] = frozenset()
    step_outputs: dict[str, Mapping[str, str]] = {}
    outputs: dict[str, str] = {}
    pending: StepEnd | None = None
    for position, step in enumerate(workflow.steps):
        error: str | None = None
        try:
            executor = ctx.executors.get(step.type)
            rendered = render_step(step, context)
        except TemplateError as exc:
            error = f"step {step.name!r}: template error in {workflow.file}: {exc}"
        except PermanentError as exc:
            error = f"step {step.name!r}: {exc.message}"
        if error is not None:
            return StepsOutcome(
                outputs, declared_secret, secrets, mask_text(error, secrets), permanent=True
            )
        step_id = await persist(
            store.executions.step_started,
            run.execution_id,
            position=position,
            name=step.name,
            type_=step.type,
        )
        news = announce.StepNews(ctx.events, run.app, run.execution_id, position, step.name)
        news.state("running")
        if rendered.skip:
            await persist(
                store.executions.step_finished,
                step_id,
                state="skipped",
                exit_code=None,
                error=None,
                log="skipped: its `if:` condition is false",
                log_truncated=0,
            )
            news.state("skipped")
            continue
        request = StepRequest(
            execution_id=run.execution_id,
            app=run.app,
            resource=run.resource,
            resource_uid=run.resource_uid,
            operation=run.operation,
            step_name=step.name,
            step_type=step.type,
            config=rendered.config,
            params=run.params,
            previous_outputs=step_outputs,
            workdir=run.workdir,
            state_dir=run.state_dir,
            provider_dir=run.provider.path,
            timeout=step.timeout or ctx.engine.step_timeout,
            secrets=secrets,
            env=rendered.env,
            on_process=run.recorder,
            sandbox=ctx.sandbox.policy_for(run.provider.name, step.type) if ctx.sandbox else None,
        )
        stream = LogStream(
            store=store,
            step_id=step_id,
            secrets=secrets,
            limit=ctx.engine.log_limit,
            on_chunk=news.log,
        )
        stream.start()
        about: dict[str, Attribute] = {
            "innominatus.step.name": step.name,
            "innominatus.step.type": step.type,
            "innominatus.step.position": position,
        }
        try:
            with ctx.tracer.span("step", **about) as span:
                result = await executor.run(
                    replace(request, trace_context=ctx.tracer.headers()),
                    on_log=stream.write,
                    log_limit=ctx.engine.log_limit,
                )
                span.set("innominatus.step.status", result.status)
                span.set("innominatus.step.exit_code", result.exit_code)
                if result.status != "succeeded":
                    span.fail(f"step {result.status}")
            run.recorder.forget()  # the executor ended the step's whole process group
        except asyncio.CancelledError:
            run.recorder.forget()
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
        secrets |= secret_values(result.outputs, workflow.secret_outputs | result.secret_outputs)
        news.mask(secrets)
        end = StepEnd(
            step_id,
            state=result.status,
            exit_code=result.exit_code,
            error=mask_text(result.error or "", secrets) or None,
            log=mask_text(result.log, secrets),
            log_truncated=result.log_truncated,
        )
        last = defer_last and result.status == "succeeded" and position == len(workflow.steps) - 1
        if last:
            pending = end
        else:
            await persist(
                store.executions.step_finished,
                end.step_id,
                state=end.state,
                exit_code=end.exit_code,
                error=end.error,
                log=end.log,
                log_truncated=end.log_truncated,
            )
        news.state(result.status)
        if result.status != "succeeded":
            error = mask_text(
                f"step {step.name!r} {result.status}: {result.error or ''}".strip(), secrets
            )
            return StepsOutcome(
                outputs, declared_secret, secrets, error, permanent=result.permanent
            )
        declared_secret |= result.secret_outputs
        step_outputs[step.name] = dict(result.outputs)
        context["steps"][step.name] = {"output": dict(result.outputs)}
        outputs.update(result.outputs)
    try:
        outputs, marked_secret = render_outputs(workflow, context, outputs)
    except TemplateError as exc:
        error = mask_text(f"outputs: template error in {workflow.file}: {exc}", secrets)
        return StepsOutcome(outputs, declared_secret, secrets, error, permanent=True, last=pending)
    # An output the workflow marks secret under a name of its own (``password: {value:
    # "{{ .steps.make.output.pw }}", secret: true}``): the step's log printed it unmasked.
    fresh = secret_values(outputs, marked_secret) - secrets
    if fresh:
        secrets |= fresh
        mask = TextMask(secrets)
        await persist(store.executions.mask_logs, run.execution_id, mask)
        if ctx.events is not None:
            ctx.events.mask_logs(run.execution_id, mask)
        if pending is not None:
            pending = replace(
                pending,
                log=None if pending.log is None else mask(pending.log),
                error=None if pending.error is None else mask(pending.error),
            )
    return StepsOutcome(outputs, declared_secret | marked_secret, secrets, last=pending)


async def persist(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
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
