"""The status document of one golden path run, written to ``goldenpaths/<name>.yaml`` on the
repository's status branch and shown by ``innominatus goldenpaths show``.

Outputs were masked when the run was recorded (secret keys and secret values), so none is
shown here either; ``updated_at`` is when the run was last requested or ended.
"""

from __future__ import annotations

from typing import Any

from reconciler.store.records import GoldenPathRunRecord

RUN_KEY_PREFIX = "goldenpath/"
"""How a run is named among the apps whose status the writer is asked to refresh (an app
name never holds a ``/``)."""


def run_key(name: str) -> str:
    return f"{RUN_KEY_PREFIX}{name}"


def run_status_path(name: str) -> str:
    return f"goldenpaths/{name}.yaml"


def run_status(run: GoldenPathRunRecord) -> dict[str, Any]:
    stamp = max(t for t in (run.requested_at, run.finished_at) if t is not None)
    document: dict[str, Any] = {
        "run": run.name,
        "goldenPath": run.golden_path,
        "state": run.state,
        "repository": run.repository,
        "path": run.file,
        "commit": run.commit,
        "updated_at": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if run.provider is not None:
        document["provider"] = f"{run.provider} {run.provider_version or ''}".strip()
        document["workflow"] = run.workflow
    if run.execution_id is not None:
        document["execution"] = run.execution_id
    if run.error:
        document["error"] = run.error
    if run.outputs:
        document["outputs"] = dict(sorted(run.outputs.items()))
    return document
