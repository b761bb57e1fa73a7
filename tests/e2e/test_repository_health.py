"""Issue 13: cheap change checks and repository health. An unwatched repository served as a
bare repository through ``file://`` is polled every second: idle polls are one check of the
followed branches each (``innominatus_git_requests_total{op="check"}``) and never a full fetch,
a push is fetched by the next poll's check; ``innominatus repositories``,
``/api/v1/repositories`` and ``/metrics`` show each repository's health (commits, polls,
webhooks, outages, held deletes, suspension)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import yaml

from reconciler.plan.guard import Hold
from reconciler.store import AppDesired, open_store
from tests.e2e.conftest import make_story
from tests.e2e.daemons import API, after_passes, daemon, get, wait_for
from tests.inprocess import invoke

APP = "apps/shop/score.yaml"


def _git_requests(url: str, op: str) -> int:
    with urllib.request.urlopen(url + "metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith(f'innominatus_git_requests_total{{op="{op}",'):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def _metric(url: str, name: str) -> str:
    with urllib.request.urlopen(url + "metrics", timeout=5) as response:
        text = response.read().decode()
    return "\n".join(line for line in text.splitlines() if line.startswith(name))


def test_an_idle_poll_is_one_check_and_a_push_is_fetched_by_the_next_poll(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    first = story.commit({"README.md": "apps\n"}, "first")
    story.config.write_text(
        story.config.read_text().replace(
            f"url: {story.bare}", f"url: file://{story.bare}\n    interval: 1s\n    watch: false"
        )
    )
    with daemon(story) as (_process, url):
        wait_for(
            lambda: get(url + "api/v1/repositories")["repositories"][0]["last_seen_commit"] == first
        )
        after_passes(url, 1)
        fetches, checks = _git_requests(url, "fetch"), _git_requests(url, "check")
        after_passes(url, 3)
        assert _git_requests(url, "fetch") == fetches  # idle polls: no full fetch
        assert _git_requests(url, "check") >= checks + 3

        second = story.commit({"README.md": "apps, changed\n"}, "second")
        wait_for(
            lambda: (
                get(url + "api/v1/repositories")["repositories"][0]["last_seen_commit"] == second
            )
        )
        assert _git_requests(url, "fetch") == fetches  # the check itself brought the push
        repository = get(url + "api/v1/repositories")["repositories"][0]
        assert repository["next_poll_at"] is not None
        assert repository["last_webhook_at"] is None
        assert repository["held_deletes"] == 0
        assert 'innominatus_repository_error{repository="apps"} 0.0' in _metric(
            url, "innominatus_repository_error"
        )


def test_repositories_shows_health_on_the_cli_the_api_and_metrics(
    tmp_path: Path, database_url: str
) -> None:
    story = make_story(tmp_path, database_url, extra_config=API)
    # The failing repository is retried after an hour, not a second: the daemon must not write
    # its next failure over the state this test records below while it reads it.
    story.config.write_text(
        story.config.read_text()
        .replace(
            f"url: {story.bare}",
            "url: https://deploy@git.invalid/team/apps.git\n    interval: 1h\n"
            "    token_env: APPS_TOKEN",
        )
        .replace("backoff: {initial: 1s, max: 2s}", "backoff: {initial: 1h, max: 1h}")
    )
    with daemon(story, env={"APPS_TOKEN": "hunter2"}) as (_process, url):
        wait_for(lambda: get(url + "api/v1/repositories")["repositories"][0]["last_error"])
        failing = get(url + "api/v1/repositories")["repositories"][0]
        assert failing["error_since"] is not None
        assert failing["next_poll_at"] is not None  # the retry after the backoff
        assert "hunter2" not in json.dumps(failing)
        assert 'innominatus_repository_error{repository="apps"} 1.0' in _metric(
            url, "innominatus_repository_error"
        )
        store = open_store(database_url)
        try:
            store.repositories.record_webhook("apps")
            store.repositories.record_sync(
                "apps",
                commit="c" * 40,
                apps=[AppDesired(name="shop", path=APP, desired={"resources": {}})],
                hold=Hold(
                    kind="limit",
                    commit="c" * 40,
                    uids=frozenset({"db.default#shop.db", "route.default#shop.route"}),
                    reason="would delete every resource",
                ),
                confirmed=(),
                problems=None,
                next_poll_at=None,
            )
        finally:
            store.close()
        document = get(url + "api/v1/repositories")["repositories"][0]
        metrics = _metric(url, "innominatus_repository_")

    assert "hunter2" not in json.dumps(document)
    assert document["url"] == "https://git.invalid/team/apps.git"
    assert document["last_webhook_at"] is not None
    assert document["held_deletes"] == 2
    assert document["hold"]["command"] == "innominatus confirm apps"
    assert 'innominatus_repository_error{repository="apps"} 0.0' in metrics  # the sync above
    assert 'innominatus_repository_held_deletes{repository="apps"} 2.0' in metrics
    assert 'innominatus_repository_suspended{repository="apps"} 0.0' in metrics
    assert 'innominatus_repository_last_webhook_timestamp_seconds{repository="apps"}' in metrics

    listed = invoke(["repositories", "-o", "json", "--config", str(story.config)])
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["repositories"] == [document]
    assert yaml.safe_load(
        invoke(["repositories", "-o", "yaml", "--config", str(story.config)]).stdout
    ) == {"repositories": [document]}
    table = invoke(["repositories", "--config", str(story.config)])
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["REPOSITORY", "URL", "BRANCH", "SEEN", "RECONCILED", "STATE", "HELD"]
    assert row.split()[:3] == ["apps", document["url"], "main"]
    assert row.split()[-1] == "2"
    wide = invoke(["repositories", "-o", "wide", "--config", str(story.config)]).stdout
    assert "innominatus confirm apps" in wide
    assert "hunter2" not in table.stdout + wide

    suspended = invoke(["suspend", "apps", "--config", str(story.config)])
    assert suspended.returncode == 0, suspended.stderr
    assert "Suspended" in invoke(["repositories", "--config", str(story.config)]).stdout


def test_repositories_without_a_database_says_where_it_looked(tmp_path: Path) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'none.db'}\n")
    result = invoke(["repositories", "--config", str(config)])
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert not (tmp_path / "none.db").exists()
