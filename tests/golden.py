"""Golden files: a test compares what it renders with a file kept in the repository.

A golden file that is missing fails the test (it is never written silently, which would pass
whatever was rendered); ``INNOMINATUS_UPDATE_GOLDEN=1`` writes every golden file a run compares
with — new or changed — for review in the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

UPDATE_ENV = "INNOMINATUS_UPDATE_GOLDEN"
UPDATING = os.environ.get(UPDATE_ENV) == "1"
"""Read when the tests are collected: the suite's autouse fixture clears ``INNOMINATUS_*``
variables before each test runs."""


def check_golden(path: Path, text: str, *, test: str = "", update: bool = UPDATING) -> None:
    """Assert ``text`` equals golden file ``path``; write it instead when updating."""
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        command = f"{UPDATE_ENV}=1 .venv/bin/pytest {test}".rstrip()
        pytest.fail(
            f"golden file {path} is missing; create it with `{command}` and review it",
            pytrace=False,
        )
    assert text == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from the golden file {path}; if the change is intended, "
        f"rewrite it with {UPDATE_ENV}=1 and review the diff"
    )
