"""Issue "Safety under faults" A and B through `innominatus run` against a real bare remote,
polled every second (not watched, so "one poll" is what heals; one case also watched, where
the daemon's own push wakes it and must find nothing to do): the status branch deleted,
hand-edited or force-pushed gets every app's current file back fast-forward in one commit and
then stays still (no loop, no empty commit); a repository moved away shows ``SourceAvailable:
"False"`` on its apps in the API and in `innominatus status` with phases unchanged, and the
condition is gone once the repository is back."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SCORE, Story, make_story
from tests.e2e.daemons import API, after_passes, daemon, get, wait_for
from tests.gitutil import commit_files, git

STATUS = "innominatus-status"
APPS = {"shop": "apps/shop/score.yaml", "cart": "apps/cart/score.yaml"}
POLLED = "prune: true\n    interval: 1s\n    watch: {watch}"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@contextmanager
def running(
    tmp_path: Path, database_url: str, *, watch: bool = False
) -> Iterator[tuple[Story, str]]:
    """Two apps provisioned and their status files written, by a daemon polling every second
    (and, with ``watch``, watching the remote's folder too)."""
    story = make_story(tmp_path, database_url, extra_config=API)
    polled = POLLED.format(watch=str(watch).lower())
    story.config.write_text(story.config.read_text().replace("prune: true", polled))
    story.commit(
        {
            path: SCORE.format(size="small").replace("name: shop", f"name: {app}")
            for app, path in APPS.items()
        },
        "two apps",
    )
    with daemon(story) as (process, url):
        wait_for(lambda: all(phase(story, app) == "Ready" for app in APPS))
        yield story, url
        process.terminate()
        assert process.wait(timeout=30) == 0


def phase(story: Story, app: str) -> str | None:
    return (story.status_file(app) or {}).get("phase")


def tip(story: Story) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(story.bare), "rev-parse", "--verify", "--quiet", STATUS],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def stays_still(story: Story, url: str) -> str | None:
    """The status tip after three more polls of the daemon, during which it must not move."""
    before = tip(story)
    after_passes(url, 3)
    assert tip(story) == before, "the daemon committed again to its own status branch"
    return before


def edit_status(story: Story, files: dict[str, str], *, orphan: bool) -> str:
    """A person's push to the status branch: a commit on top, or a new history forced over."""
    clone = story.root / f"hand-{time.monotonic_ns()}"
    git(story.root, "clone", "--quiet", "--branch", STATUS, str(story.bare), str(clone))
    if orphan:
        git(clone, "checkout", "--quiet", "--orphan", "rewritten")
        git(clone, "rm", "-r", "--quiet", "--cached", ".")
        for stale in clone.glob("apps/*.yaml"):
            stale.unlink()
    sha = commit_files(clone, files, "by hand")
    git(clone, "push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{STATUS}")
    return sha


@pytest.mark.parametrize("watch", [False, True], ids=["polled", "watched"])
def test_a_deleted_status_branch_has_every_apps_file_back_within_one_poll_and_stays_still(
    tmp_path: Path, database_url: str, watch: bool
) -> None:
    with running(tmp_path, database_url, watch=watch) as (story, url):
        stays_still(story, url)
        git(story.work, "push", "--quiet", "origin", "--delete", STATUS)
        assert tip(story) is None

        wait_for(lambda: all(phase(story, app) == "Ready" for app in APPS), timeout=10)

        stays_still(story, url)
        assert story.status_commits() == 1  # one orphan commit with every app's file
        files = git(story.bare, "ls-tree", "-r", "--name-only", STATUS).split()
        assert files == ["apps/cart.yaml", "apps/shop.yaml"]


def test_a_hand_edited_status_file_is_restored(tmp_path: Path, database_url: str) -> None:
    with running(tmp_path, database_url) as (story, url):
        stays_still(story, url)
        shown = git(story.bare, "show", f"{STATUS}:apps/shop.yaml")
        edit = edit_status(
            story, {"apps/shop.yaml": shown.replace("phase: Ready", "phase: Failed")}, orphan=False
        )
        assert phase(story, "shop") == "Failed"

        wait_for(lambda: phase(story, "shop") == "Ready", timeout=10)

        restored = stays_still(story, url)
        assert git(story.bare, "rev-parse", f"{restored}^") == edit  # fast-forward
        assert git(story.bare, "show", "--name-only", "--format=", str(restored)).split() == [
            "apps/shop.yaml"
        ]


def test_a_force_pushed_status_branch_is_replaced_fast_forward_from_the_new_tip(
    tmp_path: Path, database_url: str
) -> None:
    with running(tmp_path, database_url) as (story, url):
        ours = stays_still(story, url)
        forced = edit_status(story, {"apps/shop.yaml": "phase: Gone\n"}, orphan=True)

        wait_for(lambda: all(phase(story, app) == "Ready" for app in APPS), timeout=10)

        restored = stays_still(story, url)
        history = git(story.bare, "rev-list", STATUS).split()
        assert history == [restored, forced]  # on top of the forced tip, never forced back
        assert ours not in history


def source_conditions(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in document["conditions"] if c["type"] == "SourceAvailable"]


def test_an_unreachable_repository_shows_source_available_false_until_it_is_back(
    tmp_path: Path, database_url: str
) -> None:
    with running(tmp_path, database_url) as (story, url):
        good = git(story.bare, "rev-parse", "main")
        away = story.root / "moved-away.git"
        story.bare.rename(away)

        wait_for(lambda: bool(source_conditions(get(url + "api/v1/apps/shop"))), timeout=10)

        for app in APPS:
            document = get(url + f"api/v1/apps/{app}")
            assert document["phase"] == "Ready"
            assert {r["state"] for r in document["resources"].values()} == {"active"}
            (outage,) = source_conditions(document)
            assert (outage["status"], outage["reason"]) == ("False", "FetchFailed")
            assert outage["last_good_commit"] == good
            assert outage["since"]
            assert "app.git" in outage["message"]  # the configured remote, redacted
        cli = {a["app"]: a for a in story.status_json()["apps"]}
        assert [c["status"] for c in source_conditions(cli["shop"])] == ["False"]
        assert cli["shop"]["phase"] == cli["cart"]["phase"] == "Ready"
        (repository,) = get(url + "api/v1/repositories")["repositories"]
        assert repository["error_since"] == outage["since"]
        assert repository["good_commit"] == good
        table = story.innominatus("status", check=True).stdout
        assert "SourceAvailable=False" in table

        away.rename(story.bare)

        wait_for(lambda: not source_conditions(get(url + "api/v1/apps/shop")), timeout=10)
        assert not any(source_conditions(a) for a in story.status_json()["apps"])
        assert get(url + "api/v1/repositories")["repositories"][0]["error_since"] is None
        with urllib.request.urlopen(url + "metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'innominatus_repository_last_success_timestamp_seconds{repository="apps"}' in metrics
        wait_for(lambda: all(len((story.status_file(a) or {})["conditions"]) == 1 for a in APPS))
        stays_still(story, url)
