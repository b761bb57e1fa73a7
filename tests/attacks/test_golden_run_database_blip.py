"""A database outage when a golden path run is checked or started does not lose the run: the
run is due, so the daemon tries it again once the database answers, without a new commit, a
provider change or a restart (no execution is lost)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import StoreError
from reconciler.store.goldenruns import GoldenPathRuns
from tests.e2e.daemons import daemon, wait_for
from tests.e2e.test_golden_path_runs import RUN, golden_story, ran, state_is


@pytest.mark.parametrize("method", ["get", "begin"])
def test_a_database_outage_as_a_run_starts_delays_the_run_and_does_not_lose_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    story = golden_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    real = getattr(GoldenPathRuns, method)
    failures = {"left": 2}

    def flaky(self: GoldenPathRuns, *args: Any, **kwargs: Any) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise StoreError("database unavailable: connection refused; will retry", delay=0.2)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GoldenPathRuns, method, flaky)
    story.commit({"runs/payments.yaml": RUN.format(size=2)}, "onboard payments")
    with daemon(story):
        wait_for(lambda: state_is(story, "succeeded"), timeout=20)
    assert failures["left"] == 0
    assert ran(story) == ["goldenpath payments"]
