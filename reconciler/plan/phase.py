"""An app's phase and Ready condition from its plan and recorded resources (ARCHITECTURE §5.4).

Pure. Called by the engine after every reconcile pass (the phase is stored) and by the status
writer. Phases: Ready, Progressing, Failed, Invalid, Deleting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.plan.model import AppPlan, Phase, RecordedResource


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str  # "True" | "False"
    reason: str
    message: str


def app_phase(
    *,
    removed: bool,
    error: str | None,
    plan: AppPlan | None,
    recorded: Sequence[RecordedResource],
) -> tuple[Phase, Condition]:
    if error is not None:
        return "Invalid", Condition("Ready", "False", "InvalidSpec", error)
    live = [r for r in recorded if r.state != "terminated"]
    actions = plan.actions if plan is not None else ()
    held = [a for a in actions if a.status == "held"]
    if removed and live and not actions and plan is not None and plan.orphans:
        return "Ready", Condition(
            "Ready",
            "True",
            "Orphaned",
            "app removed from Git; prune is off, so its resources are kept (orphaned): "
            + ", ".join(plan.orphans),
        )
    if removed and (live or actions):
        message = "deleting resources of an app removed from Git"
        if held:
            message = held[0].detail
        return "Deleting", Condition("Ready", "False", "Deleting", message)
    broken = [a for a in actions if a.status in ("exhausted", "error")]
    failed = [r for r in live if r.state == "failed"]
    if broken:
        first = broken[0]
        return "Failed", Condition(
            "Ready", "False", "ActionFailed", f"{first.name}: {first.detail or first.reason}"
        )
    if failed:
        record = failed[0]
        retry = next((a for a in actions if a.uid == record.uid), None)
        suffix = f" ({retry.detail})" if retry is not None and retry.detail else ""
        return "Failed", Condition(
            "Ready", "False", "ResourceFailed", f"{record.name}: {record.last_error}{suffix}"
        )
    if held:
        return "Progressing", Condition("Ready", "False", "DeletesHeld", held[0].detail)
    if actions:
        names = ", ".join(
            f"{a.name} ({a.operation}{': ' + a.detail if a.status == 'waiting' else ''})"
            for a in actions[:5]
        )
        return "Progressing", Condition("Ready", "False", "Reconciling", f"pending: {names}")
    orphans = plan.orphans if plan is not None else ()
    message = "all resources active"
    if orphans:
        message += f"; orphaned (prune: false): {', '.join(orphans)}"
    return "Ready", Condition("Ready", "True", "AllResourcesActive", message)
