"""An app change that edits provider files is told that plan never loads providers from the
change's head: a ``provider.yaml``, or any file in a folder holding one, on either side."""

from __future__ import annotations

import pytest

from reconciler.plan.review.providerfiles import edited_provider_files

BASE = {
    "shop/score.yaml": "a",
    "providers/db/provider.yaml": "b",
    "providers/db/workflows/create.yaml": "c",
    "docs/provider-notes.md": "d",
}


@pytest.mark.parametrize(
    ("head", "named"),
    [
        (
            {**BASE, "providers/db/workflows/create.yaml": "c2"},
            "providers/db/workflows/create.yaml",
        ),
        ({**BASE, "providers/db/provider.yaml": "b2"}, "providers/db/provider.yaml"),
        ({k: v for k, v in BASE.items() if "workflows" not in k}, "workflows/create.yaml"),
        ({**BASE, "team/x/provider.yaml": "new"}, "team/x/provider.yaml"),
    ],
)
def test_an_edited_provider_file_is_named_in_the_note(head: dict[str, str], named: str) -> None:
    (note,) = edited_provider_files(BASE, head)

    assert note.kind == "providers-not-from-head"
    assert named in note.message
    assert "providers are not loaded from the head of this change" in note.message


def test_changes_outside_provider_folders_say_nothing() -> None:
    head = {**BASE, "shop/score.yaml": "a2", "docs/provider-notes.md": "d2"}

    assert edited_provider_files(BASE, head) == ()


def test_many_edited_files_are_counted_not_all_listed() -> None:
    head = {**BASE, **{f"providers/db/workflows/w{i}.yaml": "x" for i in range(8)}}

    (note,) = edited_provider_files(BASE, head)

    assert "and 3 more" in note.message
