"""Parameter diffs for reviewers: flattened keys, old -> new, secrets masked with stable masks.

A secret value (by key name) is shown as ``***`` plus six hex characters of a salted sha256,
so a reviewer sees *that* a secret changed without seeing it (and 24 bits reveal nothing
useful). A value that references another resource's outputs is only known after apply.
Pure; called by :mod:`reconciler.plan.review`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.secrets import MASK, is_secret_key

_SALT = b"innominatus plan v1"
KNOWN_AFTER_APPLY = "(known after apply)"


@dataclass(frozen=True, slots=True)
class ParamChange:
    key: str
    old: str | None  # rendered; None = absent
    new: str | None
    secret: bool = False


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(_flatten(item, f"{path}."))
        else:
            flat[path] = item
    return flat


def stable_mask(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return MASK + hashlib.sha256(_SALT + text.encode()).hexdigest()[:6]


def _show(value: Any, *, secret: bool) -> str:
    if isinstance(value, str) and "${resources." in value:
        return f"{KNOWN_AFTER_APPLY} {value}" if not secret else KNOWN_AFTER_APPLY
    if secret:
        return stable_mask(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def param_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[ParamChange, ...]:
    before, after = _flatten(old), _flatten(new)
    changes = []
    for key in sorted(set(before) | set(after)):
        if key in before and key in after and before[key] == after[key]:
            continue
        secret = is_secret_key(key.rsplit(".", 1)[-1])
        changes.append(
            ParamChange(
                key=key,
                old=_show(before[key], secret=secret) if key in before else None,
                new=_show(after[key], secret=secret) if key in after else None,
                secret=secret,
            )
        )
    return tuple(changes)
