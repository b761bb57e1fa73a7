"""What the engine tells the dashboard's live updates (:mod:`reconciler.status.events`) as it
records a change: an execution began or ended (with its resource's new state), a step began or
ended, a step's output was stored, an app's phase changed.

One call per change recorded, after the store accepted it; a no-op without a bus (``innominatus
reconcile``, tests). Only identifiers, names and states are published (log chunks come masked
from :class:`reconciler.engine.logstream.LogStream`), never outputs or parameters.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from reconciler.plan.model import Action
from reconciler.secrets import TextMask
from reconciler.status.events import EventBus, state_after, state_while


def execution_began(
    events: EventBus | None, action: Action, execution_id: int, *, workflow: str
) -> None:
    if events is None:
        return
    _execution(events, action, execution_id, state="running", workflow=workflow)
    _resource(events, action, execution_id, state_while(action.operation))


def execution_ended(
    events: EventBus | None, action: Action, execution_id: int, *, state: str
) -> None:
    """``state``: ``succeeded``, ``failed`` or ``interrupted``."""
    if events is None:
        return
    _execution(events, action, execution_id, state=state)
    resource_state = state_after(action.operation) if state == "succeeded" else "failed"
    _resource(events, action, execution_id, resource_state)


def _execution(
    events: EventBus, action: Action, execution_id: int, *, state: str, **extra: str
) -> None:
    events.publish(
        "execution",
        execution=execution_id,
        app=action.app,
        resource=action.uid,
        operation=action.operation,
        state=state,
        **extra,
    )


def _resource(events: EventBus, action: Action, execution_id: int, state: str) -> None:
    events.publish(
        "resource",
        app=action.app,
        resource=action.uid,
        name=action.name,
        state=state,
        execution=execution_id,
    )


@dataclass(frozen=True, slots=True)
class StepNews:
    """What one step of one execution tells: its state changes and its stored output."""

    events: EventBus | None
    app: str
    execution: int
    position: int
    name: str

    def state(self, state: str) -> None:
        if self.events is not None:
            self.events.publish(
                "step",
                app=self.app,
                execution=self.execution,
                position=self.position,
                name=self.name,
                state=state,
            )

    def log(self, text: str) -> None:
        """A chunk of the step's output as just stored (already masked)."""
        if self.events is not None:
            self.events.publish(
                "log", app=self.app, execution=self.execution, position=self.position, text=text
            )

    def mask(self, secrets: Collection[str]) -> None:
        """The step reported secrets it may have printed before they were known: the kept
        chunks of its execution's output are masked with them (like its stored log)."""
        if self.events is not None and secrets:
            self.events.mask_logs(self.execution, TextMask(secrets))


def phase_changed(events: EventBus | None, *, app: str, phase: str | None) -> None:
    if events is not None and phase is not None:
        events.publish("app", app=app, phase=phase)
