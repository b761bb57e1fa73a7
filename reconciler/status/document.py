"""The status document of one app (ARCHITECTURE §5.6), shared by the Git write-back, the API
and ``innominatus status`` so all three report the same thing.

Secret outputs never appear: keys the provider marked secret, and keys whose name says so
(password, secret, token, private_key, credentials, connection_string), are masked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.plan.model import RecordedResource
from reconciler.secrets import MASK, is_secret_key
from reconciler.store.records import AppRecord


def masked_outputs(resource: RecordedResource) -> dict[str, Any]:
    return {
        key: MASK if is_secret_key(key, resource.secret_keys) else value
        for key, value in sorted(resource.outputs.items())
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_status(resource: RecordedResource) -> dict[str, Any]:
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
        entry["error"] = resource.last_error
    if resource.outputs:
        entry["outputs"] = masked_outputs(resource)
    return entry


def app_status(app: AppRecord, resources: Sequence[RecordedResource]) -> dict[str, Any]:
    """The document written to ``apps/<app>.yaml`` and served at ``/api/v1/apps/<app>``."""
    live = [r for r in resources if r.state != "terminated"]
    times = [app.updated_at, *(r.updated_at for r in live if r.updated_at is not None)]
    ready = app.phase == "Ready"
    return {
        "app": app.name,
        "phase": app.phase,
        "commit": app.commit,
        "path": app.path,
        "repository": app.repository,
        "updated_at": _iso(max(times)),
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": app.reason,
                "message": app.message,
            }
        ],
        "resources": {r.name: resource_status(r) for r in sorted(live, key=lambda r: r.name)},
    }


def without_timestamp(document: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a status document that decide whether a new commit is needed."""
    return {k: v for k, v in document.items() if k != "updated_at"}
