"""The package's public surface is small and pinned (CONVENTIONS #4)."""

from __future__ import annotations

import reconciler


def test_exported_members() -> None:
    assert sorted(reconciler.__all__) == [
        "InnominatusError",
        "PermanentError",
        "TemporaryError",
        "__version__",
    ]
