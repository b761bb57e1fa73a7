"""The review as pull-request comments: summary table, problems and the provider sources not
loadable on this machine first, then one folded ``<details>`` section per app (its actions as
a table, each parameter diff in a ``diff`` block), split into parts that each stay under a
forge's comment limit (GitHub: 65,536).

Every part starts with :data:`MARKER` on its first line and ``<!-- innominatus-plan part N of
M -->`` on its second, so CI finds its own comments again (``examples/ci/sticky-comment.sh``).
Parts are measured in UTF-8 bytes, so they are under the limit in characters too. Splits fall
between table rows or between diff blocks, never inside one: an app cut in two is closed and
reopened as ``(continued)``. One value is cut at 500 characters and one diff block at about
16,000, so any block fits an empty part. Text that came from a Score file is escaped so it can
neither end a section, nor mention anyone, nor start a line of its own (a control character is
shown as an escape such as ``\\n``: a path cannot forge a heading). Pure and deterministic;
called by ``innominatus plan --format markdown``.
"""

from __future__ import annotations

import re

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
from reconciler.plan.review import OPERATIONS, Review

MARKER = "<!-- innominatus-plan -->"
COMMENT_LIMIT = 65536
_VALUE_LIMIT = 500
_DIFF_LIMIT = 16_000
_CELL_LIMIT = 400
_FRAMING = 200  # the two marker lines and a part heading
_TABLE = "| # | operation | resource | workflow | why |\n|--:|---|---|---|---|\n"
_CLOSE = "\n</details>\n\n"
_TICKS = re.compile(r"`+")


def size(text: str) -> int:
    """What a comment limit counts, conservatively: UTF-8 bytes."""
    return len(text.encode("utf-8"))


def _text(raw: str, limit: int | None = None) -> str:
    """Plain text safe in Markdown and HTML: no tags, no @mentions, no table breaks, no line
    of its own (a line break is ``<br>``, any other control character a visible escape)."""
    if limit is not None and len(raw) > limit:
        raw = raw[:limit] + "…"
    raw = "\n".join(printable(line) for line in raw.split("\n"))
    escaped = raw.replace("&", "&amp;").replace("<", "&lt;").replace("@", "@&#8203;")
    return escaped.replace("|", "\\|").replace("\n", "<br>")


def _code(raw: str) -> str:
    """An inline code span (safe in a table cell) whatever backticks or control characters
    ``raw`` holds."""
    raw = printable(raw)
    longest = max((len(m) for m in _TICKS.findall(raw)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {raw} " if raw.startswith("`") or raw.endswith("`") else raw
    return f"{fence}{padded}{fence}".replace("|", "\\|")


def _fenced(lines: list[str]) -> str:
    body = "\n".join(printable(line) for line in lines)
    longest = max((len(m) for m in _TICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}diff\n{body}\n{fence}\n\n"


def _header(review: Review, budget: int) -> str:
    out = [f"### innominatus · {summary_line(review)}", ""]
    if review.problems:
        out += [f"**{problems_line(review)}**", ""]
    where = f" · repository {_code(review.repository)}" if review.repository else ""
    out += [_text(sides(review)) + where, ""]
    if review.apps:
        out += ["| app | create | update | delete | replace | problems |"]
        out += ["|---|--:|--:|--:|--:|--:|"]
        for shown, app in enumerate(review.apps):
            counts = [*review.counts_of(app).values(), len(review.problems_of(app))]
            cells = " | ".join(map(str, counts))
            row = f"| {_text(app)} | {cells} |"
            if size("\n".join(out)) + size(row) > budget // 3:
                out.append(f"| … {len(review.apps) - shown} more apps, below | | | | | |")
                break
            out.append(row)
        totals = review.counts()
        cells = " | ".join(str(totals[k]) for k in (*OPERATIONS, "problems"))
        out.append(f"| **total** | {cells} |")
        out.append("")
    if review.runs:
        out += ["#### Golden path runs", ""]
        out += [f"- {_text(run_line(run), 2000)}" for run in review.runs]
        out.append("")
    if review.problems:
        out += ["#### Problems", ""]
        limit = size("\n".join(out)) + budget // 3
        for shown, problem in enumerate(review.problems):
            where = f" ({_text(problem.app)})" if problem.app else ""
            item = f"- **{problem.kind}**{where}: {_text(problem.message, 2000)}"
            if size("\n".join(out)) + size(item) > limit:
                left = len(review.problems) - shown
                out.append(f"- … {left} more: run `innominatus plan` to see them all")
                break
            out.append(item)
        out.append("")
    if review.warnings:
        out += ["#### Warnings", ""]
        out += [f"- **{note.kind}**: {_text(note.message, 2000)}" for note in review.warnings]
        out.append("")
    if review.host_notes:
        out += ["#### Not loadable on this machine", "", _text(notes_line(review)), ""]
        out += [f"- {_text(note.message, 2000)}" for note in review.host_notes]
        out.append("")
    return "\n".join(out) + "\n"


def _diff(order: int, uid: str, lines: list[str]) -> str:
    shown = [f"# {order}. {uid}"]
    for number, line in enumerate(lines):
        if sum(len(s) + 1 for s in shown) + len(line) > _DIFF_LIMIT:
            shown.append(f"# … {len(lines) - number} more: see `innominatus plan --format text`")
            break
        shown.append(line)
    return _fenced(shown)


def _app_units(review: Review, app: str) -> list[tuple[str, str]]:
    """(kind, text): table ``row`` s, then one ``diff`` block per action that changes params."""
    units = []
    for a in review.actions_of(app):
        reason = why(a) + (f"; after {', '.join(a.after)}" if a.after else "")
        cells = [str(a.order), f"{SYMBOL[a.operation]} {a.operation}", _code(a.uid)]
        cells += [_code(workflows(a)), _text(reason, _CELL_LIMIT)]
        units.append(("row", "| " + " | ".join(cells) + " |"))
    for orphan in review.orphans_of(app):
        kept = "gone from the spec; kept: prune is off"
        units.append(("row", f"|  | = keep | {_code(orphan.uid)} |  | {kept} |"))
    for a in review.actions_of(app):
        if a.changes:
            lines = [change_line(c, limit=_VALUE_LIMIT) for c in a.changes]
            units.append(("diff", _diff(a.order, a.uid, lines)))
    return units


def _opening(review: Review, app: str, *, continued: bool) -> str:
    counts = review.counts_of(app)
    summary = ", ".join(f"{n} to {op}" for op, n in counts.items() if n) or "no change"
    title = f"<b>{_text(app)}</b>" + (" (continued)" if continued else f": {summary}")
    path = review.paths.get(app)
    return f"<details><summary>{title}</summary>\n\n" + (f"{_code(path)}\n\n" if path else "")


def render_markdown(review: Review, *, limit: int = COMMENT_LIMIT) -> list[str]:
    """The comment bodies, in order; each is under ``limit`` bytes and starts with MARKER."""
    budget = limit - _FRAMING
    parts: list[list[str]] = [[_header(review, budget)]]
    used = size(parts[0][0])
    for app in review.apps:
        is_open = table = started = False
        for kind, unit in _app_units(review, app):
            while True:
                prefix = "" if is_open else _opening(review, app, continued=started)
                prefix += _TABLE if kind == "row" and not table else ""
                prefix += "\n" if kind == "diff" and table else ""
                piece = prefix + unit + ("\n" if kind == "row" else "")
                if used + size(piece) + size(_CLOSE) <= budget:
                    parts[-1].append(piece)
                    used += size(piece)
                    is_open, table, started = True, kind == "row", True
                    break
                if used == 0:
                    raise RuntimeError(f"a {kind} of {app} is larger than a whole comment")
                if is_open:
                    parts[-1].append(_CLOSE)
                parts.append([])
                used, is_open, table = 0, False, False
        if is_open:
            parts[-1].append(_CLOSE)
            used += size(_CLOSE)
    total = len(parts)
    bodies = []
    for number, chunks in enumerate(parts, start=1):
        heading = f"### innominatus plan, part {number} of {total}\n\n" if number > 1 else ""
        label = f"<!-- innominatus-plan part {number} of {total} -->"
        bodies.append(f"{MARKER}\n{label}\n{heading}" + "".join(chunks))
    return bodies
