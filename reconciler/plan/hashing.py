"""The inputs hash of a resource (ARCHITECTURE §5.4): what decides between update and noop.

sha256 of the canonical JSON (sorted keys, no whitespace) of type, class, id, resolved params
and the two workflow-selector annotations. Called by the planner; stored by the engine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

WORKFLOW_ANNOTATION = "innominatus.io/workflow"
WORKFLOW_TAGS_ANNOTATION = "innominatus.io/workflow-tags"


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""Built once: ``json.dumps`` with these options builds an encoder at every call (a hash is
computed for every resource of every pass)."""


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def inputs_hash(
    *,
    type_: str,
    class_: str,
    id_: str | None,
    params: Mapping[str, Any],
    annotations: Mapping[str, Any],
    installed: str | None = None,
) -> str:
    """What a resource's last apply must match for it to be up to date: its identity, params,
    workflow selection and (``installed``) its provider's installation parameters."""
    document = {
        "type": type_,
        "class": class_,
        "id": id_,
        "params": params,
        "workflow": annotations.get(WORKFLOW_ANNOTATION),
        "workflow_tags": annotations.get(WORKFLOW_TAGS_ANNOTATION),
    }
    if installed:
        document["installed"] = installed
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()
