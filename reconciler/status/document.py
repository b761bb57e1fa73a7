"""The status document of one app (ARCHITECTURE §5.6), shared by the Git write-back, the API
and ``innominatus status`` so all three report the same thing.

Secret outputs never appear: keys the provider marked secret, and keys whose name says so
(:func:`reconciler.secrets.is_secret_name`), are masked, and every known secret value is
masked by value elsewhere (:func:`reconciler.secrets.mask_text`).

An app whose repository cannot be fetched or read gets a ``SourceAvailable`` condition with
status ``"False"`` (the redacted error, when the outage began, the last commit read in full)
beside its ``Ready`` condition; phase and resources stay as recorded (invariant 1: an outage
changes nothing). When the repository is readable again the condition is gone, so a healthy
app's document is the same as before outages were reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.plan.model import RecordedResource
from reconciler.secrets import MASK, is_secret_key, mask_text, secret_values
from reconciler.store.records import AppHeader, AppRecord, RepositoryRecord

SOURCE_AVAILABLE = "SourceAvailable"


def known_secrets(resources: Sequence[RecordedResource]) -> frozenset[str]:
    """Every secret output value of an app's resources (4 characters or more): masked by
    value wherever it was copied into an output with an ordinary name, an error or a
    message (``url: http://x-<password>/``)."""
    found: set[str] = set()
    for resource in resources:
        found |= secret_values(resource.outputs, resource.secret_keys)
    return frozenset(found)


def _mask_value(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, Mapping):
        return {k: _mask_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v, secrets) for v in value]
    return value


def masked_outputs(
    resource: RecordedResource, secrets: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Outputs as shown anywhere: secret keys masked, and every known secret value masked
    inside the others."""
    return {
        key: MASK if is_secret_key(key, resource.secret_keys) else _mask_value(value, secrets)
        for key, value in sorted(resource.outputs.items())
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_status(
    resource: RecordedResource, secrets: frozenset[str] | None = None
) -> dict[str, Any]:
    """One resource as status shows it; ``secrets``: the app's known secret values (default:
    this resource's own)."""
    if secrets is None:
        secrets = known_secrets([resource])
    entry: dict[str, Any] = {
        "uid": resource.uid,
        "type": resource.type,
        "class": resource.class_,
        "state": resource.state,
    }
    if resource.orphaned:
        entry["orphaned"] = True
    if resource.provider:
        entry["provider"] = resource.provider
    if resource.workflow:
        entry["workflow"] = resource.workflow
    if resource.execution_id is not None:
        entry["execution"] = resource.execution_id
    if resource.last_error and resource.state == "failed":
        entry["error"] = mask_text(resource.last_error, secrets)
    if resource.outputs:
        entry["outputs"] = masked_outputs(resource, secrets)
    return entry


def source_condition(
    app: AppRecord | AppHeader, source: RepositoryRecord | None
) -> dict[str, Any] | None:
    """The ``SourceAvailable: "False"`` condition while ``app``'s repository is in an outage
    (``error_since`` set by the repository pass); None while it is readable."""
    if source is None or source.name != app.repository or source.error_since is None:
        return None
    return {
        "type": SOURCE_AVAILABLE,
        "status": "False",
        "reason": "FetchFailed",
        "message": source.last_error or "",
        "since": _iso(source.error_since),
        "last_good_commit": source.good_commit,
    }


def app_status(
    app: AppRecord | AppHeader,
    resources: Sequence[RecordedResource],
    *,
    source: RepositoryRecord | None = None,
) -> dict[str, Any]:
    """The document written to ``apps/<app>.yaml`` and served at ``/api/v1/apps/<app>``;
    ``source`` is the app's repository (its outage, if any, becomes a condition)."""
    live = [r for r in resources if r.state != "terminated"]
    secrets = known_secrets(live)
    times = [app.updated_at, *(r.updated_at for r in live if r.updated_at is not None)]
    ready = app.phase == "Ready"
    conditions: list[dict[str, Any]] = [
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": app.reason,
            "message": mask_text(app.message, secrets),
        }
    ]
    outage = source_condition(app, source)
    if outage is not None:
        conditions.append(outage)
    return {
        "app": app.name,
        "phase": app.phase,
        "commit": app.commit,
        "path": app.path,
        "repository": app.repository,
        "updated_at": _iso(max(times)),
        "conditions": conditions,
        "resources": {
            r.name: resource_status(r, secrets) for r in sorted(live, key=lambda r: r.name)
        },
    }


def without_timestamp(document: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a status document that decide whether a new commit is needed."""
    return {k: v for k, v in document.items() if k != "updated_at"}


def summary(document: Mapping[str, Any]) -> str:
    """One line for tables (CLI, dashboard): the ``Ready`` message, then every other condition
    that is not ``"True"`` (a source outage shows where people look)."""
    parts = []
    for condition in document.get("conditions", []):
        if condition.get("type") == "Ready":
            parts.append(str(condition.get("message") or ""))
        elif condition.get("status") != "True":
            since = f" since {condition['since']}" if condition.get("since") else ""
            parts.append(
                f"{condition['type']}={condition['status']}{since}: {condition['message']}"
            )
    return "; ".join(p for p in parts if p)
