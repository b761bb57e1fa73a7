"""Markdown for pull-request comments: summary first, one folded section per app, parts that
each stay under the comment limit, split only between whole rows or diff blocks."""

from __future__ import annotations

import re

import pytest

from reconciler.plan.render import COMMENT_LIMIT, MARKER, render_markdown
from reconciler.plan.render.markdown import size
from reconciler.plan.review import ParamChange, Problem, Review
from tests.unit.plan.test_render_text import action, review


def many_apps(count: int, *, changes: int = 3) -> Review:
    diff = tuple(ParamChange(f"key{i}", "modify", "old", "new-" * 20) for i in range(changes))
    return review(*(action("update", app=f"app-{i:04d}", changes=diff) for i in range(count)))


def one_big_app(actions: int) -> Review:
    diff = (ParamChange("size", "modify", "s", "m"),)
    return review(
        *(action("create", name=f"r{i:04d}", order=i + 1, changes=diff) for i in range(actions))
    )


def balanced(part: str) -> None:
    """No code fence is left open, and outside code every section opened is closed (inside
    a fenced block, text is shown as it is and cannot close anything)."""
    outside, fence = [], ""
    for line in part.splitlines():
        match = re.fullmatch(r"(`{3,})(diff)?", line)
        if match and not fence:
            fence = match.group(1)
        elif fence and line == fence:
            fence = ""
        elif not fence:
            outside.append(line)
    assert not fence
    text = "\n".join(outside)
    assert text.count("<details>") == text.count("</details>")


def test_a_small_plan_is_one_part_with_the_marker_on_its_first_line() -> None:
    (part,) = render_markdown(many_apps(3))
    assert part.startswith(f"{MARKER}\n<!-- innominatus-plan part 1 of 1 -->\n### innominatus · ")
    balanced(part)


def test_the_summary_table_comes_before_the_folded_details() -> None:
    (part,) = render_markdown(many_apps(2))
    table = part.index("| app | create | update | delete | replace | problems |")
    assert table < part.index("<details>")
    assert "| **total** | 0 | 2 | 0 | 0 | 0 |" in part


def test_a_large_plan_is_split_into_parts_each_under_the_limit() -> None:
    parts = render_markdown(many_apps(600))
    assert len(parts) > 2
    for number, part in enumerate(parts, start=1):
        assert size(part) < COMMENT_LIMIT
        assert part.startswith(f"{MARKER}\n<!-- innominatus-plan part {number} of {len(parts)} -->")
        balanced(part)
    body = "".join(parts)
    assert all(f"<b>app-{i:04d}</b>" in body for i in range(600))


def test_the_split_boundary_one_byte_less_makes_two_parts() -> None:
    plan = many_apps(5)
    low, high = 2_000, 200_000  # the smallest limit that still gives one part
    while low < high:
        middle = (low + high) // 2
        low, high = (
            (low, middle) if len(render_markdown(plan, limit=middle)) == 1 else (middle + 1, high)
        )
    (whole,) = render_markdown(plan, limit=low)
    assert size(whole) < low
    parts = render_markdown(plan, limit=low - 1)
    assert len(parts) == 2
    assert all(size(part) < low - 1 for part in parts)


def test_an_app_larger_than_a_part_continues_in_the_next_one() -> None:
    parts = render_markdown(one_big_app(1_200))
    assert len(parts) > 1
    assert "<b>shop</b> (continued)" in parts[1]
    for part in parts:
        balanced(part)
        assert size(part) < COMMENT_LIMIT
    rows = sum(len(re.findall(r"^\| \d+ \| \+ create \|", p, re.MULTILINE)) for p in parts)
    assert rows == 1_200


def test_parts_are_the_same_on_every_run() -> None:
    assert render_markdown(many_apps(300)) == render_markdown(many_apps(300))


def test_a_long_value_is_cut_and_says_how_much_is_left() -> None:
    change = ParamChange("blob", "add", new="x" * 5_000)
    (part,) = render_markdown(review(action("create", changes=(change,))))
    assert '+ blob: "' + "x" * 499 + "… (4502 more characters)" in part


def test_a_huge_diff_is_cut_inside_its_own_block() -> None:
    changes = tuple(ParamChange(f"k{i:04d}", "add", new="v" * 400) for i in range(200))
    (part,) = render_markdown(review(action("create", changes=changes)))
    assert "more: see `innominatus plan --format text`" in part
    balanced(part)


def test_text_from_score_files_cannot_close_sections_or_mention_anyone() -> None:
    hostile = "</details><img src=x> @org/admins | ```"
    plan = review(
        action(
            "create", app="shop", detail=hostile, changes=(ParamChange("k", "add", new=hostile),)
        ),
        problems=(Problem("invalid-file", hostile),),
    )
    (part,) = render_markdown(plan)
    balanced(part)
    code = part[part.index("````diff") :]  # values are shown as they are, inside the fence
    assert '+ k: "</details><img src=x> @org/admins | ```"\n````\n' in code
    text = part[: part.index("````diff")]
    assert "</details><img" not in text
    assert "&lt;/details>&lt;img src=x> @&#8203;org/admins \\| ```" in text


def test_many_apps_and_problems_keep_the_summary_within_the_first_part() -> None:
    problems = tuple(Problem("parameters", "p" * 1_500, f"app-{i:04d}") for i in range(100))
    plan = review(*many_apps(3_000, changes=0).actions, problems=problems)
    parts = render_markdown(plan)
    assert "more apps, below" in parts[0]
    assert "more: run `innominatus plan` to see them all" in parts[0]
    assert all(size(part) < COMMENT_LIMIT for part in parts)


@pytest.mark.parametrize("limit", [3_000, 10_000, COMMENT_LIMIT])
def test_concatenated_parts_split_back_at_the_marker_lines(limit: int) -> None:
    parts = render_markdown(many_apps(80), limit=limit)
    printed = "".join(parts)
    pieces = re.split(rf"(?m)^(?={re.escape(MARKER)}$)", printed)
    assert [p for p in pieces if p] == parts


FORGED = "apps/shop/score.yaml\n\n### innominatus · No changes.\n\r\n"


def test_a_score_path_with_line_breaks_cannot_forge_a_no_changes_heading() -> None:
    plan = review(
        action(
            "create",
            uid="test-db.default#shop.db\n### innominatus · No changes.",
            changes=(ParamChange("k\r\n### innominatus · No changes.", "add", new="v"),),
        ),
        paths={"shop": FORGED},
        problems=(Problem("invalid-file", "broken\r### innominatus · No changes.", "shop"),),
    )
    (part,) = render_markdown(plan)
    headings = [line for line in part.splitlines() if line.lstrip().startswith("#")]
    assert headings[0].startswith("### innominatus · Plan: 1 to create")
    assert not [line for line in headings if "No changes" in line and not line.startswith("# 1.")]
    assert "`apps/shop/score.yaml\\n\\n### innominatus · No changes.\\n\\r\\n`" in part
    assert "\r" not in part
    balanced(part)


def test_terminal_escapes_and_bidi_controls_are_shown_not_obeyed() -> None:
    plan = review(action("create", app="shop\x1b[2J\u202e", changes=()))
    (part,) = render_markdown(plan)
    assert "\x1b" not in part
    assert "\u202e" not in part
    assert "shop\\x1b[2J\\u202e" in part
