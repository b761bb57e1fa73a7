"""Which values are secret, and how they are hidden (ARCHITECTURE §5.5): one rule, one mask.

A key is secret when a workflow marks it so, or when its name says so
(:func:`is_secret_name`: password, passwd, secret, token, private_key, credentials,
connection_string, api_key, dsn — in any case, anywhere in the name). A secret *value* is
hidden by :func:`mask_text` (or a compiled :class:`TextMask` when one set of secrets masks
many pieces of text, as a step's log does).

Bottom layer, and the only copy of both rules: the store (encryption at rest), parameter
binding (messages about secret parameters), the planner and PR review (which params are
secret), the executors (step logs), the sources (error messages), the engine (log streaming,
error messages) and the status documents all decide and mask through this module.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

MASK = "***"
"""What a secret value is replaced with."""
MIN_SECRET_LENGTH = 4
"""Shorter values are not masked by value: masking ``"1"`` or ``"yes"`` would garble every
text. (A key whose *name* is secret is masked whatever its value.)"""

_SECRET_NAME = re.compile(
    r"pass(?:word|wd)|secret|token|private[_-]?key|credential|connection[_-]?string|api[_-]?key|dsn",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Whether a key's name says its value is secret (``DB_PASSWORD``, ``sentryDsn``,
    ``api_key``, ``api-key``, ``apikey``, ``credentials.user``)."""
    return _SECRET_NAME.search(name) is not None


def is_secret_key(key: str, marked: Collection[str] = ()) -> bool:
    """Whether ``key`` is secret: marked so by its workflow, or named so."""
    return key in marked or is_secret_name(key)


def secret_values(values: Mapping[str, Any], marked: Collection[str] = ()) -> frozenset[str]:
    """The string forms of the secret entries of ``values`` (for masking by value), and of
    every leaf of a map or list under a secret key or under a secret-named key nested in a
    map (``credentials: {password: ...}`` reaches a step as JSON, not as its Python form)."""
    found = {
        str(value)
        for key, value in values.items()
        if is_secret_key(key, marked) and value is not None and len(str(value)) >= 4
    }
    for key, value in values.items():
        _nested_secrets(value, found, secret=is_secret_key(key, marked))
    return frozenset(found)


def _nested_secrets(value: Any, found: set[str], *, secret: bool) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _nested_secrets(item, found, secret=secret or is_secret_name(str(key)))
    elif isinstance(value, list | tuple):
        for item in value:
            _nested_secrets(item, found, secret=secret)
    elif (
        secret
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
        and len(str(value)) >= MIN_SECRET_LENGTH
    ):
        found.add(str(value))


class TextMask:
    """Masks a fixed set of secret values in any text; compiled once.

    Each secret of ``min_length`` characters or more is masked, and each line of a secret that
    spans lines (a PEM key, a kubeconfig), because a step's output reaches a log one line or
    one read at a time. Longest first: where one secret contains another, the whole is masked.
    """

    def __init__(self, secrets: Collection[str], *, min_length: int = MIN_SECRET_LENGTH) -> None:
        found = {secret for secret in secrets if secret and len(secret) >= min_length}
        for secret in list(found):
            for line in secret.splitlines():
                if line != secret and len(line.strip()) >= max(min_length, MIN_SECRET_LENGTH):
                    found.add(line)
        needles = sorted(found, key=lambda needle: (-len(needle), needle))
        self._pattern = re.compile("|".join(map(re.escape, needles))) if needles else None
        self.longest = len(needles[0]) if needles else 0
        """Length of the longest masked value: a reader cutting a stream into pieces keeps
        this many characters minus one back, so no secret is split between two writes."""

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)


def mask_text(text: str, secrets: Collection[str], *, min_length: int = MIN_SECRET_LENGTH) -> str:
    """``text`` with every secret value in ``secrets`` replaced by :data:`MASK`."""
    return TextMask(secrets, min_length=min_length)(text)
