"""The suite's rule for a missing tool, server or data set (``tests/tools.py``): a local run
skips with how to get it; a CI run (``CI=true``) fails, because CI provides everything."""

from __future__ import annotations

import pytest

from tests.tools import need, require_tool

HOW = "install it with `apt-get install no-such-tool`"


def test_a_missing_tool_skips_locally_saying_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-tool-x not found on PATH; install"):
        require_tool("no-such-tool-x", how=HOW)


def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no-such-tool-x .*CI=true"):
        require_tool("no-such-tool-x", how=HOW)


def test_a_tool_found_under_any_of_its_names_is_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_tool("no-such-tool-x", "sh", how=HOW).endswith("/sh")


@pytest.mark.parametrize("ci", ["", "false", "0"])
def test_only_ci_true_turns_a_skip_into_a_failure(ci: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="the corpus is absent"):
        need(False, "the corpus is absent")


def test_a_condition_that_holds_neither_skips_nor_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    need(True, "unused")
