"""Parameter diffs for reviewers: flattened keys, old -> new, secrets as stable masks.

A value is secret when any segment of its key says so (``admin_password``,
``credentials.user``; :func:`reconciler.secrets.is_secret_key`) or when it holds a value known
to be secret (an output a workflow marked secret, resolved into a param). A secret is shown as
``***`` plus six hex characters of ``sha256(salt + value)``: equal values give equal masks, so
a reviewer sees *that* a secret changed, never what it is. The salt is the caller's (``innominatus
plan`` takes ``INNOMINATUS_PLAN_MASK_SALT``, else a random one per run, so masks cannot be
checked against guesses by anyone without it; :data:`DEFAULT_SALT` is for tests only). A
value holding a ``${resources...}`` placeholder is only known after apply. Values are compared
in canonical JSON, so ``1`` and ``true`` differ as they do for the inputs hash. Pure; called by
:mod:`.state`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.plan.binding import has_placeholder
from reconciler.plan.hashing import canonical_json
from reconciler.plan.review.model import ParamChange
from reconciler.secrets import MASK, is_secret_key

KNOWN_AFTER_APPLY = "(known after apply)"
DEFAULT_SALT = b"innominatus plan"


@dataclass(frozen=True, slots=True)
class Masker:
    """Decides which values are secret and masks them; one per review, so masks compare."""

    salt: bytes = DEFAULT_SALT
    secret_values: frozenset[str] = frozenset()  # at least 4 characters each

    def with_values(self, values: Collection[str]) -> Masker:
        """This masker, also treating ``values`` (resolved secret outputs) as secret."""
        extra = frozenset(v for v in values if len(v) >= 4)
        return Masker(self.salt, self.secret_values | extra)

    def mask(self, value: Any) -> str:
        digest = hashlib.sha256(self.salt + canonical_json(value).encode()).hexdigest()
        return MASK + digest[:6]

    def is_secret(self, path: tuple[str, ...], value: Any) -> bool:
        if any(is_secret_key(segment) for segment in path):
            return True
        if not self.secret_values:
            return False
        text = value if isinstance(value, str) else canonical_json(value)
        return any(secret in text for secret in self.secret_values)


def _flatten(
    value: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, item in value.items():
        path = (*prefix, str(key))
        if isinstance(item, Mapping) and item:
            yield from _flatten(item, path)
        else:
            yield path, item


def param_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], *, masker: Masker
) -> tuple[ParamChange, ...]:
    """Every flattened key whose value differs, sorted by key."""
    before = {path: value for path, value in _flatten(old)}
    after = {path: value for path, value in _flatten(new)}
    changes = []
    for path in sorted(before.keys() | after.keys()):
        in_old, in_new = path in before, path in after
        if in_old and in_new and canonical_json(before[path]) == canonical_json(after[path]):
            continue
        secret = any(masker.is_secret(path, side[path]) for side in (before, after) if path in side)
        unknown = in_new and has_placeholder(after[path])
        old_value = before.get(path)
        new_value = after.get(path)
        if secret:
            old_value = masker.mask(old_value) if in_old else None
            new_value = KNOWN_AFTER_APPLY if unknown else masker.mask(new_value) if in_new else None
        changes.append(
            ParamChange(
                key=".".join(path),
                kind="modify" if in_old and in_new else "add" if in_new else "remove",
                old=old_value,
                new=new_value,
                secret=secret,
                known_after_apply=unknown,
            )
        )
    return tuple(changes)
