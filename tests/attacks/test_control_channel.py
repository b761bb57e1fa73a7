"""Attack (faults): two operator commands at once lose one of them on PostgreSQL.

The daemon follows the ``control`` table by a high-water mark (``reconciler/engine/control.py``
``follow_control``: ``since(last)`` then ``last = event.id``). On PostgreSQL an id comes from a
sequence when the row is *inserted*, not when its transaction commits. `confirm` inserts its
control row before it updates the repository row (SQLAlchemy flushes ``ControlRow`` before
``RepositoryRow``), so a confirm whose update waits a moment on that row (the daemon's own
sync takes it ``FOR UPDATE``) commits id N after a quicker command committed N+1, which the
daemon has already read: the confirm is never seen, and the confirmed deletes wait for the
next poll (an hour here) instead of "within a second"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.e2e.conftest import SCORE, make_story
from tests.e2e.daemons import API, daemon, get, wait_for
from tests.gitutil import commit_files, make_repo, push

BLOG = """\
apiVersion: score.dev/v1b1
metadata: {name: blog}
containers: {web: {image: nginx}}
"""


def waiting_for_a_lock(libpq: str) -> bool:
    """Whether another session of this database waits for a lock (a fresh connection each
    time: a transaction sees one snapshot of ``pg_stat_activity``)."""
    with psycopg.connect(libpq, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return found is not None and found[0] > 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_confirm_committing_after_a_quicker_command_still_reaches_the_daemon(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    other, other_bare = make_repo(tmp_path, "other")
    commit_files(other, {"blog/score.yaml": BLOG}, "blog")
    push(other)
    story.config.write_text(
        story.config.read_text()
        .replace("prune: true", "prune: true\n    interval: 1h\n    watch: false", 1)
        .replace(
            "providers:\n",
            f"  - name: other\n    url: {other_bare}\n    branch: main\n    interval: 1h\n"
            "providers:\n",
        )
    )
    story.commit({"apps/shop/score.yaml": SCORE.format(size="small")}, "shop")
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with daemon(story) as (process, api):
        wait_for(lambda: story.effects_log() == ["create db", "create route"])
        story.commit({"apps/shop/score.yaml": None}, "git rm shop")
        # The repository is polled hourly and not watched: a restart makes it look now.
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    with daemon(story) as (process, api):

        def held() -> bool:
            found = get(api + "api/v1/repositories")["repositories"]
            return bool(next(r for r in found if r["name"] == "apps")["hold"])

        def shop_says_held() -> bool:
            shop = get(api + "api/v1/apps/shop")
            return any("held by the delete guard" in str(c["message"]) for c in shop["conditions"])

        wait_for(held)
        wait_for(shop_says_held)  # the app's pass after the hold ran, and deleted nothing
        assert not [e for e in story.effects_log() if e.startswith("delete")]
        confirm_command = [sys.executable, "-m", "reconciler", "confirm", "apps"]
        confirm_command += ["--config", str(story.config)]
        with psycopg.connect(libpq) as blocker:
            # Any transaction holding the repository row a moment (a sync does, FOR UPDATE).
            blocker.execute("SELECT 1 FROM repositories WHERE name = 'apps' FOR UPDATE")
            confirm = subprocess.Popen(
                confirm_command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=story.root,
                env=dict(os.environ),
            )
            # Its control row is inserted (flushed first) once its update waits for the row.
            wait_for(lambda: waiting_for_a_lock(libpq), timeout=60)
            story.innominatus("suspend", "other", check=True)  # a later id, committed first
            wait_for(lambda: "operator: suspend other" in process.log())  # the daemon read it
            blocker.rollback()
        output, _ = confirm.communicate(timeout=60)
        assert confirm.returncode == 0, output
        try:
            wait_for(lambda: "delete db" in story.effects_log(), timeout=10)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
