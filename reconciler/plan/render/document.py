"""The review for machines: one JSON document, ``schema_version`` 1, described field by field
in ``plan.schema.json`` beside this module (JSON Schema 2020-12).

Stable: fields are only ever added; a rename or a change of meaning bumps
``schema_version``. Apps are sorted by name, actions in run order, problems in the order they
were found. A change's ``old`` is absent for an ``add`` and ``new`` for a ``remove``; an
action's ``workflow_unknown`` and the document's ``notes`` are there only when a provider
source could not be loaded on this machine. Secret values are stable masks (``***1a2b3c``).
Pure; called by ``innominatus plan --format json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.plan.review import ParamChange, Review, ReviewAction

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("plan.schema.json")


def _change(change: ParamChange) -> dict[str, Any]:
    entry: dict[str, Any] = {"key": change.key, "kind": change.kind}
    if change.kind != "add":
        entry["old"] = change.old
    if change.kind != "remove":
        entry["new"] = change.new
    entry["secret"] = change.secret
    entry["known_after_apply"] = change.known_after_apply
    return entry


def _action(action: ReviewAction) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "order": action.order,
        "operation": action.operation,
        "uid": action.uid,
        "resource": action.resource,
        "type": action.type,
        "class": action.class_,
        "workflow": action.workflow,
        "delete_workflow": action.delete_workflow,
        "replaces": action.replaces,
        "reason": action.reason.value,
        "reason_text": action.reason.text,
        "detail": action.detail,
        "apps": list(action.apps),
        "after": list(action.after),
        "changes": [_change(change) for change in action.changes],
    }
    if action.unknown is not None:
        entry["workflow_unknown"] = action.unknown
    return entry


def review_document(review: Review) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "mode": review.mode,
        "repository": review.repository,
        "base": {"label": review.base.label, "commit": review.base.commit},
        "head": {"label": review.head.label, "commit": review.head.commit},
        "summary": review.counts(),
        "exit_code": review.exit_code,
        "apps": [
            {
                "app": app,
                "path": review.paths.get(app),
                "actions": [_action(action) for action in review.actions_of(app)],
                "orphans": [orphan.uid for orphan in review.orphans_of(app)],
            }
            for app in review.apps
        ],
        "problems": [
            {"kind": p.kind, "app": p.app, "uid": p.uid, "message": p.message}
            for p in review.problems
        ],
    }
    if review.runs:
        document["runs"] = [
            {
                "name": run.name,
                "file": run.file,
                "golden_path": run.golden_path,
                "reason": run.reason,
                "parameters": dict(run.parameters),
            }
            for run in review.runs
        ]
    if review.notes:
        document["notes"] = [
            {"kind": n.kind, "source": n.source, "setting": n.setting, "message": n.message}
            for n in review.notes
        ]
    return document


def render_json(review: Review) -> str:
    return json.dumps(review_document(review), indent=2, ensure_ascii=False) + "\n"
