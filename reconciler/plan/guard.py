"""The delete guard (ARCHITECTURE §6 invariant 2): mass deletes wait for a human.

Pure. The engine's repository sync asks :func:`delete_guard` before letting a new commit delete
resources; a non-None answer is the reason the deletes are held until ``innominatus confirm``.
"""

from __future__ import annotations


def delete_guard(*, deletes: int, live: int, max_deletes: int) -> str | None:
    """Why ``deletes`` of ``live`` resources must be confirmed first, or None if they need not."""
    if deletes == 0:
        return None
    if deletes >= live:
        return (
            f"this commit would delete all {live} resources of the repository; "
            "if that is intended, run `innominatus confirm <repository>`"
        )
    if deletes > max_deletes:
        return (
            f"this commit would delete {deletes} resources at once, more than "
            f"engine.max_deletes={max_deletes}; if that is intended, run "
            "`innominatus confirm <repository>`"
        )
    return None
