"""A restarted daemon parses only the Score files that changed while it was down (the others
are taken as the last process parsed them: ``parsed_files``), and acts on exactly what changed:
an update for the file changed, the error of the file broken, nothing for the rest — across
SIGTERM, kill -9 and a repair."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from reconciler.store import open_store
from reconciler.store.models import ParsedFileRow
from tests.e2e.conftest import make_story
from tests.e2e.daemons import API, after_passes, daemon, get, wait_for


def _app(name: str, resource: str, size: str) -> str:
    return (
        f"apiVersion: score.dev/v1b1\nmetadata: {{name: {name}}}\n"
        "containers: {web: {image: nginx}}\n"
        f"resources:\n  {resource}:\n    type: test-db\n    params: {{size: {size}}}\n"
    )


def _app_document(api: str, name: str) -> dict[str, Any]:
    document: dict[str, Any] = get(api + f"api/v1/apps/{name}")
    return document


def _states(api: str) -> dict[str, str]:
    return {
        app["name"]: _app_document(api, app["name"])["phase"]
        for app in get(api + "api/v1/apps")["apps"]
    }


def _kept(database_url: str) -> dict[str, str]:
    store = open_store(database_url, read_only=True)
    try:
        with store._db.transaction() as session:
            rows = session.execute(select(ParsedFileRow.path, ParsedFileRow.key))
            return {path: key for path, key in rows}
    finally:
        store.close()


def test_a_restarted_daemon_acts_on_what_changed_while_it_was_down_and_on_nothing_else(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    config = story.config.read_text()
    story.config.write_text(config.replace("prune: true\n", "prune: true\n    interval: 1s\n", 1))
    story.commit(
        {
            "apps/shop/score.yaml": _app("shop", "db", "small"),
            "apps/blog/score.yaml": _app("blog", "store", "small"),
            "apps/wiki/score.yaml": _app("wiki", "pages", "small"),
        },
        "three apps",
    )
    ready = {"shop": "Ready", "blog": "Ready", "wiki": "Ready"}
    with daemon(story, process=True) as (process, api):
        wait_for(lambda: _states(api) == ready)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    first = _kept(database_url)
    assert sorted(first) == ["apps/blog/score.yaml", "apps/shop/score.yaml", "apps/wiki/score.yaml"]

    story.commit(
        {"apps/shop/score.yaml": _app("shop", "db", "large"), "apps/blog/score.yaml": "a: [b\n"},
        "while the daemon is down: one app changed, one broken",
    )
    with daemon(story, process=True) as (process, api):
        wait_for(lambda: story.effects_log()[-1:] == ["update db"])
        wait_for(lambda: _states(api) == {**ready, "blog": "Invalid"})
        message = _app_document(api, "blog")["conditions"][0]["message"]
        assert "apps/blog/score.yaml:2:1: invalid YAML" in message
        after_passes(api)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    second = _kept(database_url)
    assert sorted(second) == ["apps/shop/score.yaml", "apps/wiki/score.yaml"]
    assert second["apps/wiki/score.yaml"] == first["apps/wiki/score.yaml"]
    assert second["apps/shop/score.yaml"] != first["apps/shop/score.yaml"]

    story.commit({"apps/blog/score.yaml": _app("blog", "store", "small")}, "repaired")
    with daemon(story, process=True) as (process, api):
        wait_for(lambda: _states(api) == ready)
        after_passes(api)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    log = story.effects_log()
    assert sorted(log[:3]) == ["create db", "create pages", "create store"]
    assert log[3:] == ["update db"], log
