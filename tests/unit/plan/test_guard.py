"""The delete guard as pure functions: every pending delete counts, holds are exact and
durable, and only a confirm, a commit that no longer wants them, or falling within the limits
ends them (ARCHITECTURE §6 invariants 2 and 8)."""

from __future__ import annotations

from reconciler.plan.guard import Hold, LiveResource, evaluate_hold, pending_deletes

UIDS = [f"t.default#a{i}.db" for i in range(4)]


def _evaluate(pending: list[str], **kwargs: object) -> Hold | None:
    args: dict[str, object] = {
        "repository": "apps",
        "commit": "c2",
        "pending": pending,
        "live": 4,
        "max_deletes": 2,
        "previous": None,
        "confirmed": (),
    }
    args.update(kwargs)
    return evaluate_hold(**args)  # type: ignore[arg-type]


def test_a_wipe_out_holds_exactly_the_pending_deletes_with_the_command() -> None:
    hold = _evaluate(UIDS, max_deletes=10)
    assert hold is not None
    assert hold.kind == "limit"
    assert hold.uids == frozenset(UIDS)
    assert "innominatus confirm apps" in hold.reason


def test_every_pending_delete_counts_not_only_this_commits() -> None:
    # Three deletes pending (two from an earlier commit) exceed max_deletes=2.
    assert _evaluate(UIDS[:3]) is not None
    assert _evaluate(UIDS[:2]) is None


def test_a_hold_keeps_its_commit_while_it_holds_the_same_deletes() -> None:
    first = _evaluate(UIDS, commit="c1")
    again = _evaluate(UIDS, commit="c2", previous=first)
    assert again is not None
    assert again.commit == "c1"


def test_confirmed_deletes_are_never_held_again_while_pending() -> None:
    assert _evaluate(UIDS, confirmed=UIDS) is None
    extra = _evaluate(UIDS, confirmed=UIDS[:3])
    assert extra is not None
    assert extra.uids == {UIDS[3]}


def test_a_commit_that_no_longer_wants_the_deletes_ends_the_hold() -> None:
    held = _evaluate(UIDS)
    assert _evaluate([], previous=held) is None


def test_rewritten_history_holds_even_one_delete_until_confirmed() -> None:
    hold = _evaluate(UIDS[:1], rewritten_from="a" * 40)
    assert hold is not None
    assert hold.kind == "rewrite"
    assert "rewritten" in hold.reason
    assert "innominatus confirm apps" in hold.reason
    # Later commits keep the rewrite hold while its deletes are still wanted ...
    later = _evaluate(UIDS[:1], previous=hold, commit="c3")
    assert later is not None
    assert later.kind == "rewrite"
    # ... and a confirm releases it.
    assert _evaluate(UIDS[:1], previous=hold, confirmed=UIDS[:1]) is None


def test_pending_deletes_are_what_the_desired_state_no_longer_declares() -> None:
    live = [
        LiveResource(uid="t.default#shop.db", app="shop", state="active"),
        LiveResource(uid="t.default#shop.cache", app="shop", state="failed"),
        LiveResource(uid="t.default#gone.db", app="gone", state="active"),
        LiveResource(uid="t.default#gone.new", app="gone", state="requested"),
        LiveResource(uid="t.default#broken.db", app="broken", state="active"),
    ]
    declared: dict[str, frozenset[str] | None] = {
        "shop": frozenset({"t.default#shop.db"}),
        "gone": None,
    }
    assert pending_deletes(live, declared=declared) == {
        "t.default#shop.cache",
        "t.default#gone.db",
    }


def test_a_shared_resource_is_pending_only_when_no_app_declares_it() -> None:
    shared = LiveResource(
        uid="t.default#common", app="a", state="active", shared=True, claimers=frozenset("ab")
    )
    assert pending_deletes([shared], declared={"a": None}) == frozenset()  # b elsewhere keeps it
    assert pending_deletes([shared], declared={"a": None, "b": None}) == {"t.default#common"}
