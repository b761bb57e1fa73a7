"""Parameter diffs: flattened keys, canonical comparison, stable salted masks for secrets,
values from other resources' outputs known only after apply."""

from __future__ import annotations

from reconciler.plan.review import KNOWN_AFTER_APPLY, Masker
from reconciler.plan.review.params import param_changes

MASKER = Masker(b"salt")


def test_adds_removes_and_modifications_are_sorted_by_flattened_key() -> None:
    changes = param_changes(
        {"size": "s", "tags": {"team": "a", "old": 1}},
        {"size": "m", "tags": {"team": "a"}, "new": [1, 2]},
        masker=MASKER,
    )
    assert [(c.key, c.kind, c.old, c.new) for c in changes] == [
        ("new", "add", None, [1, 2]),
        ("size", "modify", "s", "m"),
        ("tags.old", "remove", 1, None),
    ]


def test_equal_values_of_another_json_type_are_a_change() -> None:
    (change,) = param_changes({"n": 1}, {"n": 1.5}, masker=MASKER)
    assert (change.old, change.new) == (1, 1.5)
    assert param_changes({"n": 1}, {"n": True}, masker=MASKER) != ()
    assert param_changes({"n": {"a": 1, "b": 2}}, {"n": {"b": 2, "a": 1}}, masker=MASKER) == ()


def test_a_secret_is_a_stable_mask_that_differs_when_the_value_does() -> None:
    (change,) = param_changes({"db_password": "old-pw"}, {"db_password": "new-pw"}, masker=MASKER)
    assert change.secret
    assert change.old == MASKER.mask("old-pw") != change.new == MASKER.mask("new-pw")
    assert str(change.old).startswith("***")
    assert len(str(change.old)) == 9
    again = param_changes({"db_password": "old-pw"}, {"db_password": "x"}, masker=MASKER)
    assert again[0].old == change.old


def test_masks_depend_on_the_salt_so_guesses_cannot_be_checked_without_it() -> None:
    assert Masker(b"one").mask("hunter2") != Masker(b"two").mask("hunter2")


def test_any_secret_segment_of_a_nested_key_makes_the_value_secret() -> None:
    (change,) = param_changes({}, {"credentials": {"user": "admin"}}, masker=MASKER)
    assert (change.key, change.secret, change.new) == (
        "credentials.user",
        True,
        MASKER.mask("admin"),
    )


def test_a_value_holding_a_known_secret_is_masked_whatever_its_key() -> None:
    masker = MASKER.with_values({"s3cret-from-outputs", "abc"})  # too short values are ignored
    (change,) = param_changes({}, {"url": "pg://u:s3cret-from-outputs@h"}, masker=masker)
    assert change.secret
    assert "s3cret" not in str(change.new)
    (plain,) = param_changes({}, {"label": "abc"}, masker=masker)
    assert not plain.secret


def test_a_placeholder_value_is_known_after_apply() -> None:
    (change,) = param_changes({"host": "x"}, {"host": "${resources.db.host}"}, masker=MASKER)
    assert change.known_after_apply
    assert change.new == "${resources.db.host}"
    (secret,) = param_changes({}, {"password": "${resources.db.password}"}, masker=MASKER)
    assert (secret.secret, secret.known_after_apply, secret.new) == (True, True, KNOWN_AFTER_APPLY)


def test_unchanged_placeholders_are_no_change() -> None:
    same = {"backend": "${resources.db.host}"}
    assert param_changes(same, same, masker=MASKER) == ()
