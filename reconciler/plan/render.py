"""Renderers of a :class:`~reconciler.plan.review.Review`: text for terminals, Markdown for a
pull-request comment (summary table first, details folded per app, split into parts under
65,536 characters), JSON for machines (schema version 1, documented in the README).

Pure and deterministic: apps sorted by name, actions in their planned order.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan.changes import ParamChange
from reconciler.plan.review import OPERATIONS, Review, ReviewAction, actions_of, summary_counts

MARKER = "<!-- innominatus-plan -->"
COMMENT_LIMIT = 65536
_SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}
SCHEMA_VERSION = 1


def summary_line(review: Review) -> str:
    counts = summary_counts(review)
    if not review.actions:
        line = "No changes."
    else:
        parts = [f"{counts[op]} to {op}" for op in ("create", "update", "delete")]
        if counts["replace"]:
            parts.append(f"{counts['replace']} to replace")
        line = "Plan: " + ", ".join(parts) + "."
    if review.problems:
        line += f" {len(review.problems)} problem(s) must be fixed first."
    return line


def _change_line(change: ParamChange) -> str:
    if change.old is None:
        return f"+ {change.key}: {change.new}"
    if change.new is None:
        return f"- {change.key}: {change.old}"
    return f"~ {change.key}: {change.old} -> {change.new}"


def _action_head(action: ReviewAction) -> str:
    workflow = action.workflow or "(no workflow)"
    shared = f" shared by {', '.join(action.apps)}" if len(action.apps) > 1 else ""
    replaces = f" (replaces {action.replaces})" if action.replaces else ""
    return f"{action.uid}{replaces}  {workflow}  - {action.reason}{shared}"


def render_text(review: Review) -> str:
    lines = [summary_line(review), ""]
    for app in review.apps:
        path = review.paths.get(app)
        lines.append(f"app {app}" + (f" ({path})" if path else ""))
        for action in actions_of(review, app):
            symbol = _SYMBOL[action.operation]
            lines.append(f"  {action.order}. {symbol} {action.operation:<7} {_action_head(action)}")
            lines.extend(f"       {_change_line(c)}" for c in action.changes)
        lines.append("")
    if review.problems:
        lines.append("Problems:")
        lines.extend(f"  ! [{p.kind}] {p.message}" for p in review.problems)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _markdown_app(review: Review, app: str) -> str:
    actions = actions_of(review, app)
    problems = [p for p in review.problems if p.app == app]
    title = f"{app}: {len(actions)} change(s)" + (
        f", {len(problems)} problem(s)" if problems else ""
    )
    out = [f"<details><summary><b>{title}</b></summary>", ""]
    if review.paths.get(app):
        out += [f"`{review.paths[app]}`", ""]
    if actions:
        out += ["| # | operation | resource | workflow | why |", "|---|---|---|---|---|"]
        for a in actions:
            why = a.reason + (f" (shared by {', '.join(a.apps)})" if len(a.apps) > 1 else "")
            out.append(f"| {a.order} | {a.operation} | `{a.uid}` | `{a.workflow or '-'}` | {why} |")
        diffs = [(a, c) for a in actions for c in a.changes]
        if diffs:
            out += ["", "```diff"]
            for action in actions:
                if action.changes:
                    out.append(f"# {action.order}. {action.uid}")
                    out.extend(_change_line(c).replace("~ ", "! ", 1) for c in action.changes)
            out.append("```")
    for problem in problems:
        out += ["", f"> **{problem.kind}**: {problem.message}"]
    out += ["", "</details>", ""]
    return "\n".join(out)


def render_markdown(review: Review, *, limit: int = COMMENT_LIMIT) -> list[str]:
    """Comment bodies, each under ``limit`` characters; the first carries the summary."""
    counts = summary_counts(review)
    header = [f"### innominatus {summary_line(review)}", ""]
    header.append(f"`{review.base[:12]}` → `{review.head[:12]}`")
    header += ["", "| app | create | update | delete | replace | problems |"]
    header.append("|---|---|---|---|---|---|")
    budget = limit - 200  # room for the marker and the part line
    rows = []
    for app in review.apps:
        cells = [
            str(sum(1 for a in actions_of(review, app) if a.operation == op)) for op in OPERATIONS
        ]
        problems = sum(1 for p in review.problems if p.app == app)
        rows.append(f"| {app} | " + " | ".join(cells) + f" | {problems} |")
    for shown, row in enumerate(rows):  # the table may fill half of the first comment
        if sum(map(len, header)) + len(row) + len(header) > budget // 2:
            header.append(f"| … | {len(rows) - shown} more apps: see the details below | | | | |")
            break
        header.append(row)
    header.append(
        "| **total** | "
        + " | ".join(str(counts[op]) for op in OPERATIONS)
        + f" | {counts['problems']} |"
    )
    for problem in (p for p in review.problems if p.app is None):
        header += ["", f"> **{problem.kind}**: {problem.message}"]
    parts: list[list[str]] = [["\n".join(header) + "\n"]]
    for section in (_markdown_app(review, app) for app in review.apps):
        fitted = section
        if len(fitted) > budget:
            fitted = section[: budget - 40] + "\n\n(truncated)\n</details>\n"
        used = sum(len(chunk) + 1 for chunk in parts[-1])  # chunks are joined by newlines
        if used + len(fitted) + 1 > budget:
            parts.append([])
        parts[-1].append(fitted)
    total = len(parts)
    bodies = []
    for number, chunks in enumerate(parts, start=1):
        label = f"<!-- innominatus-plan part {number} of {total} -->"
        bodies.append(f"{MARKER}\n{label}\n" + "\n".join(chunks))
    return bodies


def review_document(review: Review) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "mode": review.mode,
        "base": review.base,
        "head": review.head,
        "summary": summary_counts(review),
        "apps": [
            {
                "app": app,
                "path": review.paths.get(app),
                "actions": [
                    {
                        "order": a.order,
                        "operation": a.operation,
                        "uid": a.uid,
                        "resource": a.resource,
                        "type": a.type,
                        "class": a.class_,
                        "workflow": a.workflow,
                        "replaces": a.replaces,
                        "reason": a.reason,
                        "apps": list(a.apps),
                        "changes": [
                            {"key": c.key, "old": c.old, "new": c.new, "secret": c.secret}
                            for c in a.changes
                        ],
                    }
                    for a in actions_of(review, app)
                ],
            }
            for app in review.apps
        ],
        "problems": [{"kind": p.kind, "app": p.app, "message": p.message} for p in review.problems],
    }


def render_json(review: Review) -> str:
    return json.dumps(review_document(review), indent=2, sort_keys=False) + "\n"
