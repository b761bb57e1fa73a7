"""The words every rendering of a review shares: the summary line, a parameter change as one
line, the sides compared, why an action happens, and :func:`printable`, which keeps text that
came from a Score file (a path, an app or key name, a value) on its own line and visible.
Pure; used by :mod:`.text` and :mod:`.markdown` (the JSON document carries the same facts as
fields, escaped by JSON itself).
"""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.plan.review import ParamChange, PlannedRun, Review, ReviewAction

SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}
# Control characters (C0, DEL, C1: line breaks, carriage return, terminal escapes), Unicode
# line and paragraph separators, and the bidirectional controls that reorder what is shown.
_INVISIBLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(raw: str) -> str:
    """``raw`` with every control, line-breaking and bidirectional character written as an
    escape (``\\n``, ``\\x1b``, ``\\u202e``): a name from a Score file can neither start a
    line of its own (a fake heading or "No changes.") nor drive a terminal or reorder text."""
    return _INVISIBLE.sub(_escape, raw)


def summary_line(review: Review) -> str:
    """``Plan: 2 to create, 1 to update, 1 to delete`` (``, 1 to replace`` when any), or
    ``No changes.``"""
    if not review.actions and not review.runs:
        return "No changes."
    counts = review.counts()
    parts = [f"{counts[op]} to {op}" for op in ("create", "update", "delete")]
    if counts["replace"]:
        parts.append(f"{counts['replace']} to replace")
    if review.runs:
        count = len(review.runs)
        parts.append(f"{count} golden path run{'s' if count != 1 else ''} to start")
    return "Plan: " + ", ".join(parts)


def run_line(run: PlannedRun) -> str:
    """``> run onboard-payments (runs/payments.yaml): team/onboard-team, new file; team="x"``"""
    why = "new file" if run.reason == "new" else "file changed"
    given = ", ".join(f"{key}={value(item, limit=80)}" for key, item in run.parameters.items())
    return f"> run {run.name} ({run.file}): {run.golden_path}, {why}" + (
        f"; {given}" if given else ""
    )


def problems_line(review: Review) -> str:
    count = len(review.problems)
    if not count:
        return ""
    return f"{count} problem{'s' if count != 1 else ''} must be fixed before this can be applied."


def sides(review: Review) -> str:
    """What was compared: ``merge-base of main and feature (e5f9c4484f50) -> feature (8f37…)``."""

    base, head = review.base, review.head
    shown = [f"{s.label} ({s.commit[:12]})" if s.commit else s.label for s in (base, head)]
    return " -> ".join(shown)


def value(raw: Any, *, limit: int | None = None) -> str:
    """A parameter value as JSON; cut to ``limit`` characters when given."""
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False)
    if limit is not None and len(text) > limit:
        return f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text


def _new(change: ParamChange, limit: int | None) -> str:
    if change.secret:
        return str(change.new)
    if change.known_after_apply:
        return f"(known after apply: {value(change.new, limit=limit)})"
    return value(change.new, limit=limit)


def change_line(change: ParamChange, *, limit: int | None = None) -> str:
    """``+ key: new``, ``- key: old`` or ``~ key: old -> new`` (masks shown as they are)."""
    old = str(change.old) if change.secret else value(change.old, limit=limit)
    if change.kind == "add":
        return f"+ {change.key}: {_new(change, limit)}"
    if change.kind == "remove":
        return f"- {change.key}: {old}"
    return f"~ {change.key}: {old} -> {_new(change, limit)}"


def why(action: ReviewAction) -> str:
    """``class changed (default -> internal); shared by blog, shop``."""
    text = action.reason.text + (f" ({action.detail})" if action.detail else "")
    if len(action.apps) > 1:
        text += f"; shared by {', '.join(action.apps)}"
    return text


def workflows(action: ReviewAction) -> str:
    """The workflow(s) an action runs, in order: a replace deletes first. One that cannot be
    known on this machine says why (``unknown on this machine (provider team-a not loadable
    here: ...)``)."""
    missing = f"unknown on this machine ({action.unknown})" if action.unknown else "(no workflow)"
    runs = action.workflow or missing
    if action.operation == "replace":
        return f"{action.delete_workflow or missing} then {runs}"
    return runs


def notes_line(review: Review) -> str:
    """``2 provider sources are not loadable on this machine: ...``, or empty."""
    count = len(review.host_notes)
    if not count:
        return ""
    sources = "source is" if count == 1 else "sources are"
    return (
        f"{count} provider {sources} not loadable on this machine (values of the daemon's "
        "host): their types show as unknown. Not a problem: the daemon's host has them."
    )
