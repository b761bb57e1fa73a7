"""Issue "Safety under faults", item 5, through a long-running `innominatus run`: no execution
is lost. A database outage while a step finishes, or folders that cannot be made, end in a
recorded outcome without a restart."""

from __future__ import annotations

import signal
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.e2e.conftest import SCORE, make_story
from tests.e2e.daemons import API, daemon, get, resource_states, wait_for
from tests.faults import TcpProxy

APP = "apps/shop/score.yaml"


def test_an_execution_whose_step_ends_during_a_database_outage_is_recorded_once_it_is_back(
    tmp_path: Path, postgres_url: str
) -> None:
    url = make_url(postgres_url)
    with TcpProxy(target=(url.host or "127.0.0.1", url.port or 5432)) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        story = make_story(
            tmp_path, proxied.render_as_string(hide_password=False), extra_config=API
        )
        started, finished = story.effects / "started", story.effects / "finished"
        create = story.root / "provider" / "workflows" / "create-test-db.yaml"
        create.write_text(
            create.read_text().replace(
                "set -eu\n", f"set -eu\n        touch {started}; sleep 2; touch {finished}\n"
            )
        )
        with daemon(story) as (process, api):
            story.commit({APP: SCORE.format(size="small")}, "add shop")
            wait_for(started.exists)
            proxy.cut()
            wait_for(finished.exists)
            # The outcome waits in memory while the daemon keeps knocking (the issue saw ~20 s
            # outages): its warning is logged, then a good number of refused reconnections.
            wait_for(lambda: "keeping the execution's outcome" in process.log())
            knocks = proxy.refused
            wait_for(lambda: proxy.refused >= knocks + 20, timeout=60)
            proxy.restore()
            wait_for(
                lambda: resource_states(api) == {"db": "active", "route": "active"}, timeout=40
            )
            executions = get(api + "api/v1/executions")["executions"]
            assert {e["state"] for e in executions} == {"succeeded"}
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    assert story.effects_log() == ["create db", "create route"]


def test_folders_that_cannot_be_made_fail_the_execution_with_the_reason_and_it_is_retried(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    blocker = tmp_path / "data" / "work"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")  # mkdir data/work/<id> fails, even for root
    with daemon(story) as (process, api):
        story.commit({APP: SCORE.format(size="small")}, "add shop")
        wait_for(lambda: resource_states(api).get("db") == "failed")
        document = get(api + "api/v1/apps/shop")
        assert "cannot create the execution's folders" in document["resources"]["db"]["error"]
        executions = get(api + "api/v1/executions")["executions"]
        assert executions
        assert {e["state"] for e in executions} == {"failed"}
        blocker.unlink()
        wait_for(lambda: resource_states(api) == {"db": "active", "route": "active"}, timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
