"""The state of a repository's source commit on the forge, from the recorded app phases
(reconciler.status.commitstate.decide)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

from reconciler.plan.model import RecordedResource
from reconciler.status.commitstate import decide
from reconciler.store.records import AppRecord, RepositoryRecord
from reconciler.types import AppName, ResourceUid

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SHA = "c" * 40
SOURCE = RepositoryRecord(
    name="apps",
    url="/srv/apps",
    branch="main",
    seen_commit=SHA,
    reconciled_commit=SHA,
    last_error=None,
    failures=0,
    last_seen_at=T0,
    next_poll_at=None,
    hold_reason=None,
    confirmed_commit=None,
)


def _app(
    name: str, phase: str = "Ready", reason: str = "AllResourcesActive", message: str = ""
) -> AppRecord:
    return AppRecord(
        name=name,
        repository="apps",
        path=f"apps/{name}/score.yaml",
        commit=SHA,
        desired={},
        error=None,
        phase=phase,
        reason=reason,
        message=message or "all resources active",
        updated_at=T0,
    )


def _none(_app: str) -> Sequence[RecordedResource]:
    return ()


def test_every_app_ready_is_success_counting_the_apps() -> None:
    verdict = decide(SOURCE, [_app("cart"), _app("shop")], busy=set(), resources_of=_none)
    assert verdict is not None
    assert (verdict.sha, verdict.state, verdict.description) == (SHA, "success", "2 apps ready")
    one = decide(SOURCE, [_app("shop")], busy=set(), resources_of=_none)
    assert one is not None
    assert one.description == "1 app ready"


def test_an_app_with_work_queued_or_progressing_makes_the_commit_pending() -> None:
    apps = [_app("cart"), _app("shop", "Progressing", "Reconciling", "pending: db (create)")]
    verdict = decide(SOURCE, apps, busy=set(), resources_of=_none)
    assert verdict is not None
    assert (verdict.state, verdict.description) == ("pending", "1 of 2 apps progressing")
    queued = decide(SOURCE, [_app("cart"), _app("shop")], busy={"cart", "shop"}, resources_of=_none)
    assert queued is not None
    assert (queued.state, queued.description) == ("pending", "2 of 2 apps progressing")


def test_a_failed_app_is_failure_with_the_first_problem_and_its_secrets_masked() -> None:
    secret = RecordedResource(
        uid=ResourceUid("test-db.default#shop.db"),
        app=AppName("shop"),
        name="db",
        type="test-db",
        class_="default",
        state="failed",
        outputs={"password": "hunter2-canary"},
        last_error="exit 1: connect with hunter2-canary refused",
    )
    apps = [
        _app("cart", "Progressing", "Reconciling"),
        _app("zeta", "Invalid", "InvalidSpec", "score.yaml:3: bad"),
        _app("shop", "Failed", "ResourceFailed", "db: exit 1: connect with hunter2-canary refused"),
    ]
    verdict = decide(
        SOURCE, apps, busy=set(), resources_of=lambda app: [secret] if app == "shop" else []
    )
    assert verdict is not None
    assert verdict.state == "failure"
    assert verdict.description == "shop: db: exit 1: connect with *** refused"


def test_a_failed_app_with_new_work_queued_is_pending_not_failed() -> None:
    apps = [_app("shop", "Failed", "ResourceFailed", "db: exit 1")]
    verdict = decide(SOURCE, apps, busy={"shop"}, resources_of=_none)
    assert verdict is not None
    assert verdict.state == "pending"


def test_held_deletes_and_suspended_apps_are_failures() -> None:
    held = decide(
        SOURCE,
        [_app("shop", "Progressing", "DeletesHeld", "held by the delete guard: too many")],
        busy=set(),
        resources_of=_none,
    )
    assert held is not None
    assert (held.state, held.description) == ("failure", "shop: held by the delete guard: too many")
    suspended = decide(
        SOURCE,
        [_app("shop", "Ready", "Suspended", "suspended: nothing is reconciled")],
        busy=set(),
        resources_of=_none,
    )
    assert suspended is not None
    assert suspended.state == "failure"
    guarded = decide(
        dataclasses.replace(SOURCE, hold_reason="would delete every resource"),
        [_app("shop")],
        busy=set(),
        resources_of=_none,
    )
    assert guarded is not None
    assert guarded.state == "failure"
    assert guarded.description.startswith("deletes held: would delete every resource")


def test_a_problem_of_the_repository_itself_is_a_failure() -> None:
    verdict = decide(
        dataclasses.replace(SOURCE, problems="apps/x.yaml:1: not YAML\nsecond"),
        [_app("shop")],
        busy=set(),
        resources_of=_none,
    )
    assert verdict is not None
    assert (verdict.state, verdict.description) == ("failure", "apps/x.yaml:1: not YAML")


def test_nothing_is_said_before_a_commit_was_seen() -> None:
    unseen = dataclasses.replace(SOURCE, seen_commit=None)
    assert decide(unseen, [_app("shop")], busy=set(), resources_of=_none) is None


def test_an_app_whose_attempts_ran_out_shows_the_steps_own_error() -> None:
    failed = RecordedResource(
        uid=ResourceUid("test-db.default#shop.db"),
        app=AppName("shop"),
        name="db",
        type="test-db",
        class_="default",
        state="failed",
        last_error="step 'effect' failed: exit code 3: disk quota exceeded",
    )
    apps = [_app("shop", "Failed", "ActionFailed", "db: failed 1 times (engine.max_attempts)")]
    verdict = decide(SOURCE, apps, busy=set(), resources_of=lambda _app: [failed])
    assert verdict is not None
    assert verdict.description == (
        "shop: db: step 'effect' failed: exit code 3: disk quota exceeded"
    )
