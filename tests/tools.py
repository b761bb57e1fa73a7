"""What the suite needs from outside the repository — a program (Chromium, jq, terraform), a
server (PostgreSQL), the conformance data of ``../shared`` — and one rule for when it is
missing: the test skips with a reason saying how to get it, except under ``CI=true``, where it
fails. CI installs every tool and service the suite uses (``.ci/run``, README "Tests"), so a
skip there would be a test silently not run. Used by every tier's fixtures and tests."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as GitHub Actions, GitLab CI and ``.ci/run``
    set it)."""
    return os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> NoReturn:
    """Skip the test because something it needs is absent, or fail it under ``CI=true``.
    ``reason`` says what is missing and how to get it."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: CI provides everything the suite uses)", pytrace=False)
    pytest.skip(reason)


def need(condition: object, reason: str) -> None:
    """:func:`missing` unless ``condition`` holds."""
    if not condition:
        missing(reason)


def require_tool(*names: str, how: str) -> str:
    """The path of the first of ``names`` on ``PATH``; when none is there, :func:`missing`
    with ``how`` (the command or page that installs it)."""
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    missing(f"{' or '.join(names)} not found on PATH; {how}")
