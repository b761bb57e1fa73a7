"""Attack (hostile app repository): a shared id spelled like another app's private UID.

A shared resource's UID is ``<type>.<class>#<id>``, a private one ``<type>.<class>#<app>.<name>``,
and a Score ``id`` may contain dots (``reconciler/score/validate.py`` ``_ID``). So a hostile
repository can declare ``id: shop.db`` and so name *another team's private database*
``test-db.default#shop.db``. The shared-id ownership check (``reconciler/plan/tenancy.py``)
only compares declarations that carry an ``id``, so it sees no owner; the sync then records a
claim on that UID (``reconciler/store/repositories.py`` ``save_desired`` -> ``ensure_claims``),
and the claim makes the victim's row part of the hostile app (``reconciler/store/resources.py``
``app_resources``): the hostile app plans an update of it, reads its outputs (the password),
and deletes it when it drops the declaration; ``begin`` flips the row to ``shared`` so the
owner no longer sees its own database and loops on a create that is always stale."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import SCORE, Story, make_story
from tests.e2e.daemons import API, daemon, get, wait_for
from tests.gitutil import commit_files, make_repo, push

HOSTILE = """\
apiVersion: score.dev/v1b1
metadata: {name: evil}
containers: {web: {image: nginx}}
resources:
  keep:
    type: test-route
    params: {backend: harmless}
"""
STEAL = """\
  steal:
    type: test-db
    id: shop.db
    params: {size: tiny}
  leak:
    type: test-route
    params: {backend: "x-${resources.steal.password}"}
"""


def _two_repositories(tmp_path: Path, database_url: str, *, extra: str = "") -> tuple[Story, Path]:
    story = make_story(tmp_path, database_url, extra_config=extra)
    hostile, bare = make_repo(tmp_path, "hostile")
    commit_files(hostile, {"README.md": "hostile team\n"}, "start")
    push(hostile)
    story.config.write_text(
        story.config.read_text()
        .replace("prune: true\n", "prune: true\n    interval: 1s\n", 1)
        .replace(
            "providers:\n",
            f"  - name: hostile\n    url: {bare}\n    branch: main\n    interval: 1s\nproviders:\n",
        )
    )
    return story, hostile


def test_a_shared_id_spelled_like_another_apps_private_uid_never_reaches_that_resource(
    tmp_path: Path, database_url: str
) -> None:
    story, hostile = _two_repositories(tmp_path, database_url)
    story.commit({"apps/shop/score.yaml": SCORE.format(size="small")}, "team a's shop")
    story.innominatus("reconcile", check=True)
    assert story.effects_log() == ["create db", "create route"]
    commit_files(hostile, {"score.yaml": HOSTILE + STEAL}, "claim shop's database")
    push(hostile)
    try:
        story.innominatus("reconcile")
    finally:
        # No workflow ran on team a's database for the hostile app ...
        assert "update steal" not in story.effects_log()
        # ... and team a's password reached none of the hostile app's resources.
        assert "s3cret-canary" not in (story.effects / "route.txt").read_text()


def test_a_hostile_repository_cannot_delete_another_apps_private_resource_by_its_uid(
    tmp_path: Path, database_url: str
) -> None:
    story, hostile = _two_repositories(tmp_path, database_url, extra=API)
    story.commit({"apps/shop/score.yaml": SCORE.format(size="small")}, "team a's shop")
    with daemon(story) as (process, api):
        wait_for(lambda: story.effects_log() == ["create db", "create route"])
        commit_files(hostile, {"score.yaml": HOSTILE + STEAL}, "claim shop's database")
        push(hostile)
        wait_for(lambda: get(api + "api/v1/apps/evil")["phase"] == "Invalid")
        assert "private resource of app 'shop'" in str(get(api + "api/v1/apps/evil"))
        commit_files(hostile, {"score.yaml": HOSTILE}, "drop it again")
        push(hostile)
        wait_for(lambda: "create keep" in story.effects_log())
        with contextlib.suppress(AssertionError):
            wait_for(lambda: "delete steal" in story.effects_log(), timeout=5)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert not [e for e in story.effects_log() if e.startswith("delete")]


def test_the_owner_of_a_private_resource_is_never_locked_out_of_it(
    tmp_path: Path, database_url: str
) -> None:
    story, hostile = _two_repositories(tmp_path, database_url)
    story.commit({"apps/shop/score.yaml": SCORE.format(size="small")}, "team a's shop")
    story.innominatus("reconcile", check=True)
    commit_files(hostile, {"score.yaml": HOSTILE + STEAL}, "claim shop's database")
    push(hostile)
    story.innominatus("reconcile")
    command = [sys.executable, "-m", "reconciler", "reconcile", "--config", str(story.config)]
    try:
        done = subprocess.run(
            command,
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=story.root,
            env=os.environ,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("`innominatus reconcile` spun for 30 s on shop's stale create")
    assert done.returncode == 1, done.stderr  # the hostile app is Invalid, and says why
    apps = {a["app"]: a for a in story.status_json()["apps"]}
    assert apps["evil"]["phase"] == "Invalid"
    assert apps["shop"]["phase"] == "Ready"
    assert apps["shop"]["resources"]["db"]["state"] == "active"
