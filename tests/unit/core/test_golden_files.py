"""A golden file that is missing fails the test with the command that creates it; it is written
only when asked (``INNOMINATUS_UPDATE_GOLDEN=1``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden import UPDATE_ENV, check_golden


def test_a_missing_golden_file_fails_and_names_the_command_that_creates_it(
    tmp_path: Path,
) -> None:
    golden = tmp_path / "out.txt"
    with pytest.raises(pytest.fail.Exception) as failed:
        check_golden(golden, "rendered\n", test="tests/unit/x.py")
    assert str(failed.value) == (
        f"golden file {golden} is missing; create it with "
        f"`{UPDATE_ENV}=1 .venv/bin/pytest tests/unit/x.py` and review it"
    )
    assert not golden.exists()


def test_a_golden_file_that_differs_fails(tmp_path: Path) -> None:
    golden = tmp_path / "out.txt"
    golden.write_text("old\n")
    with pytest.raises(AssertionError, match="differs from the golden file"):
        check_golden(golden, "new\n")


def test_updating_writes_new_and_changed_golden_files(tmp_path: Path) -> None:
    golden = tmp_path / "sub" / "out.txt"
    check_golden(golden, "fresh\n", update=True)
    assert golden.read_text() == "fresh\n"
    check_golden(golden, "fresh\n")
