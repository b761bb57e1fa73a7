"""Which values are secret (ARCHITECTURE §5.5): keys a workflow marks secret, and keys whose
name says so (password, secret, token, private_key, credentials, connection_string, ...).

Bottom layer: the store (encryption at rest), the engine (log masking) and the status writer
(masking) all decide secrecy the same way through :func:`is_secret_key`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

MASK = "***"
_SECRET_NAME = re.compile(
    r"(password|passwd|secret|token|private_?key|credentials?|connection_?string|api_?key|dsn)",
    re.IGNORECASE,
)


def is_secret_key(key: str, marked: Collection[str] = ()) -> bool:
    return key in marked or bool(_SECRET_NAME.search(key))


def secret_values(values: Mapping[str, Any], marked: Collection[str] = ()) -> frozenset[str]:
    """The string forms of the secret entries of ``values`` (for masking logs)."""
    return frozenset(
        str(value)
        for key, value in values.items()
        if is_secret_key(key, marked) and value is not None and len(str(value)) >= 4
    )


def mask_text(text: str, secrets: Collection[str]) -> str:
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
