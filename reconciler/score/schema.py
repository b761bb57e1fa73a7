"""The official Score v1b1 JSON Schema (draft 2020-12), as shipped with innominatus.

Owns ``score-v1b1.json``, a verbatim copy of the Score specification's schema
(https://github.com/score-spec/spec at 1c2427d, Apache-2.0) kept beside this module, and
:func:`official_schema`, which reads it. :mod:`reconciler.providers.schema` narrows it to the
resource types and parameters of a provider set for ``innominatus schema``; a test keeps the
copy equal to the specification's.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

SCHEMA_FILE: Final = "score-v1b1.json"


def official_schema() -> dict[str, Any]:
    """A fresh copy of the official schema (callers may change it)."""
    text = (
        resources.files(__package__ or "reconciler.score")
        .joinpath(SCHEMA_FILE)
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema
