"""The text rendering: a summary line in terraform's words, then per app, then problems."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.plan.render import render_text, summary_line
from reconciler.plan.review import Orphan, Problem, Reason, Review, ReviewAction, Side
from reconciler.plan.review.model import ReviewOperation

BASE, HEAD = Side("merge-base of main and feature", "a" * 40), Side("feature", "b" * 40)


def action(
    operation: ReviewOperation, app: str = "shop", name: str = "db", **fields: Any
) -> ReviewAction:
    """A ``test-db`` action of ``app`` (``fields`` override anything)."""
    made = ReviewAction(
        app=app,
        resource=name,
        uid=f"test-db.default#{app}.{name}",
        type="test-db",
        class_="default",
        operation=operation,
        reason=Reason.NEW_RESOURCE,
        order=1,
        workflow=f"team/{operation}-test-db",
    )
    return replace(made, **fields)


def review(*actions: ReviewAction, **fields: Any) -> Review:
    return replace(Review(mode="merge-base", base=BASE, head=HEAD, actions=actions), **fields)


def test_the_summary_line_counts_creates_updates_and_deletes() -> None:
    plan = review(action("create"), action("create", name="b"), action("update"), action("delete"))
    assert summary_line(plan) == "Plan: 2 to create, 1 to update, 1 to delete"


def test_replaces_are_counted_only_when_there_are_some() -> None:
    plan = review(action("replace", replaces="x", delete_workflow="team/delete-test-db"))
    assert summary_line(plan) == "Plan: 0 to create, 0 to update, 0 to delete, 1 to replace"


def test_no_actions_is_no_changes() -> None:
    assert render_text(review()).startswith("No changes.\n\nCompared: merge-base of main and")


def test_problems_are_counted_under_the_summary_and_listed_with_every_line() -> None:
    plan = review(problems=(Problem("provider-set", "refused:\n  - a\n  - b"),))
    text = render_text(plan)
    assert text.splitlines()[1] == "1 problem must be fixed before this can be applied."
    assert "  ! provider-set: refused:\n        - a\n        - b\n" in text


def test_a_replace_names_the_uid_it_replaces_and_runs_delete_then_create() -> None:
    plan = review(
        action(
            "replace",
            reason=Reason.CLASS_CHANGED,
            detail="default -> big",
            replaces="test-db.small#shop.db",
            delete_workflow="team/delete-test-db",
        )
    )
    text = render_text(plan)
    assert "  1. -/+ replace test-db.default#shop.db\n" in text
    assert "       replaces test-db.small#shop.db\n" in text
    assert "       runs team/delete-test-db then team/replace-test-db\n" in text
    assert "       why: class changed (default -> big)\n" in text


def test_orphans_say_they_stay_because_prune_is_off() -> None:
    text = render_text(review(orphans=(Orphan("shop", "test-db.default#shop.db"),)))
    assert "= keep test-db.default#shop.db: gone from the spec, kept because prune is off" in text


def test_an_unresolved_workflow_is_shown_as_such() -> None:
    assert "runs (no workflow)" in render_text(review(action("create", workflow=None)))


def test_every_line_is_one_line_whatever_a_score_file_names() -> None:
    forged = "apps/shop/score.yaml\nNo changes.\r\x1b[1A\x1b[2K"
    text = render_text(review(action("create"), paths={"shop": forged}))
    assert text.splitlines()[0] == "Plan: 1 to create, 0 to update, 0 to delete"
    assert "No changes." not in [line.strip() for line in text.splitlines()]
    assert "app shop (apps/shop/score.yaml\\nNo changes.\\r\\x1b[1A\\x1b[2K)" in text
    assert "\x1b" not in text
    assert "\r" not in text
