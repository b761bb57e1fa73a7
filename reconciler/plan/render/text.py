"""The review for a terminal: the summary line, then per app its actions in run order with
their workflows, reasons and parameter diffs, then the problems, then the notes (provider
sources not loadable on this machine). Every printed line is one line: control characters
from Score files (line breaks, terminal escapes) are shown escaped. Pure and deterministic
(apps sorted by name); called by ``innominatus plan --format text``.
"""

from __future__ import annotations

from reconciler.plan.render.words import (
    SYMBOL,
    change_line,
    notes_line,
    printable,
    problems_line,
    run_line,
    sides,
    summary_line,
    why,
    workflows,
)
from reconciler.plan.review import Problem, Review


def _problem(problem: Problem) -> list[str]:
    where = f" ({problem.app})" if problem.app else ""
    first, *rest = problem.message.splitlines() or [""]
    return [f"  ! {problem.kind}{where}: {first}", *(f"      {line}" for line in rest)]


def render_text(review: Review) -> str:
    lines = [summary_line(review)]
    if review.problems:
        lines.append(problems_line(review))
    if review.host_notes:
        lines.append(notes_line(review))
    if review.warnings:
        lines.append(f"{len(review.warnings)} warning(s): see Warnings below")
    where = f" (repository {review.repository})" if review.repository else ""
    lines += ["", f"Compared: {sides(review)}{where}", ""]
    for app in review.apps:
        path = review.paths.get(app)
        lines.append(f"app {app}" + (f" ({path})" if path else ""))
        for action in review.actions_of(app):
            head = f"  {action.order}. {SYMBOL[action.operation]} {action.operation} {action.uid}"
            lines.append(head)
            if action.replaces:
                lines.append(f"       replaces {action.replaces}")
            lines.append(f"       runs {workflows(action)}")
            lines.append(f"       why: {why(action)}")
            if action.after:
                lines.append(f"       after: {', '.join(action.after)}")
            lines.extend(f"       {change_line(change)}" for change in action.changes)
        for orphan in review.orphans_of(app):
            lines.append(f"  = keep {orphan.uid}: gone from the spec, kept because prune is off")
        lines.append("")
    if review.runs:
        lines.append("Golden path runs (started once the change is merged):")
        lines.extend(f"  {run_line(run)}" for run in review.runs)
        lines.append("")
    if review.problems:
        lines.append("Problems:")
        for problem in review.problems:
            lines.extend(_problem(problem))
        lines.append("")
    if review.warnings:
        lines.append("Warnings:")
        lines.extend(f"  ~ {note.kind}: {note.message}" for note in review.warnings)
        lines.append("")
    if review.host_notes:
        lines.append("Not loadable on this machine:")
        lines.extend(f"  ~ {note.kind}: {note.message}" for note in review.host_notes)
        lines.append("")
    # Every line is one line: control characters from Score files are shown as escapes.
    return "\n".join(printable(line) for line in lines).rstrip() + "\n"
