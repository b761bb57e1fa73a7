"""Issue "Trust boundaries", items 2 and 14 and repository policies: a team's repository can
never touch another team's apps or shared resources. Two app repositories on one daemon; the
second one is hostile."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.e2e.conftest import SCORE, Story, make_story
from tests.e2e.daemons import API, after_passes, daemon, get, resource_states, wait_for
from tests.gitutil import commit_files, make_repo, push
from tests.migrating import downgrade

CANARY = "s3cret-canary"  # the password the test provider's create-test-db outputs


def _with_hostile(tmp_path: Path, database_url: str, *, extra: str = "") -> tuple[Story, Path]:
    story = make_story(tmp_path, database_url, extra_config=API)
    work, bare = make_repo(tmp_path, "hostile")
    config = story.config.read_text().replace(
        "providers:\n",
        f"  - name: hostile\n    url: {bare}\n    branch: main\n    interval: 1s\n{extra}"
        "providers:\n",
    )
    story.config.write_text(config.replace("prune: true\n", "prune: true\n    interval: 1s\n", 1))
    return story, work


def _refs_text(bare: Path) -> str:
    """Every change reachable from any ref of a repository, as text."""
    return subprocess.run(
        ["git", "-C", str(bare), "log", "--all", "-p", "--format=%H %s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _hostile_repository(api: str) -> dict[str, object]:
    found = get(api + "api/v1/repositories")["repositories"]
    hostile: dict[str, object] = next(r for r in found if r["name"] == "hostile")
    return hostile


def test_another_repository_reusing_an_app_name_changes_nothing_of_the_owners_app(
    tmp_path: Path, database_url: str
) -> None:
    story, hostile = _with_hostile(tmp_path, database_url)
    story.commit({"apps/shop/score.yaml": SCORE.format(size="small")}, "team a's shop")
    takeover = SCORE.format(size="small").replace(
        "backend: ${resources.db.host}:${resources.db.port}",
        'backend: "leak-${resources.db.password}"',
    )
    with daemon(story) as (process, api):
        wait_for(lambda: resource_states(api) == {"db": "active", "route": "active"})
        before = get(api + "api/v1/apps/shop")
        commit_files(hostile, {"score.yaml": takeover}, "take over shop")
        push(hostile)
        wait_for(lambda: "belongs to repository 'apps'" in str(_hostile_repository(api)))
        for repository in ("apps", "hostile"):  # several passes of both: it never flips
            after_passes(api, 2, repository=repository)
        after = get(api + "api/v1/apps/shop")
        assert after["repository"] == "apps"
        assert after["path"] == before["path"]
        assert after["resources"] == before["resources"]
        assert story.effects_log() == ["create db", "create route"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert CANARY not in _refs_text(tmp_path / "hostile.git")


def test_a_shared_id_belongs_to_the_repository_that_declared_it_first(
    tmp_path: Path, database_url: str
) -> None:
    story, hostile = _with_hostile(tmp_path, database_url)
    shared = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: NAME}\ncontainers: {web: {image: nginx}}\n"
        "resources:\n  cache:\n    type: test-db\n    id: shared-cache\n    params: {size: small}\n"
    )
    story.commit({"apps/shop/score.yaml": shared.replace("NAME", "shop")}, "team a's cache")
    with daemon(story) as (process, api):
        wait_for(lambda: resource_states(api) == {"cache": "active"})
        commit_files(hostile, {"score.yaml": shared.replace("NAME", "blog")}, "co-own the cache")
        push(hostile)
        wait_for(lambda: get(api + "api/v1/apps/blog")["phase"] == "Invalid")
        blog = get(api + "api/v1/apps/blog")
        assert "belongs to repository 'apps'" in blog["conditions"][0]["message"]
        assert blog["resources"] == {}  # it reads none of the cache's outputs
        # A different declaration from the hostile side freezes nothing of the owner's.
        differing = shared.replace("NAME", "blog").replace("small", "huge")
        commit_files(hostile, {"score.yaml": differing}, "declare it differently")
        push(hostile)
        for repository in ("apps", "hostile"):
            after_passes(api, 2, repository=repository)
        shop = get(api + "api/v1/apps/shop")
        assert shop["phase"] == "Ready"
        assert shop["repository"] == "apps"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert CANARY not in _refs_text(tmp_path / "hostile.git")
    assert story.effects_log() == ["create cache"]


def test_share_with_lets_a_named_repository_declare_the_owners_shared_resource(
    tmp_path: Path, database_url: str
) -> None:
    story, hostile = _with_hostile(tmp_path, database_url)
    story.config.write_text(
        story.config.read_text().replace(
            "interval: 1s\n", "interval: 1s\n    share_with: [hostile]\n", 1
        )
    )
    shared = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: NAME}\ncontainers: {web: {image: nginx}}\n"
        "resources:\n  cache:\n    type: test-db\n    id: shared-cache\n    params: {size: small}\n"
    )
    story.commit({"apps/shop/score.yaml": shared.replace("NAME", "shop")}, "team a's cache")
    story.innominatus("reconcile")  # team a declares it first (hostile has no branch yet)
    assert {a["app"]: a["phase"] for a in story.status_json()["apps"]} == {"shop": "Ready"}
    commit_files(hostile, {"score.yaml": shared.replace("NAME", "blog")}, "friendly")
    push(hostile)
    story.innominatus("reconcile", check=True)
    apps = {a["app"]: a for a in story.status_json()["apps"]}
    assert apps["blog"]["phase"] == "Ready"
    assert story.effects_log() == ["create cache"]


def test_a_score_file_outside_its_repositorys_policy_is_invalid_naming_the_policy(
    tmp_path: Path, database_url: str
) -> None:
    story, hostile = _with_hostile(
        tmp_path, database_url, extra="    policy: {resource_types: [test-route]}\n"
    )
    commit_files(hostile, {"score.yaml": SCORE.format(size="small")}, "a database")
    push(hostile)
    result = story.innominatus("reconcile")
    assert result.returncode == 1
    shop = story.status_json()["apps"][0]
    assert shop["phase"] == "Invalid"
    assert "policy.resource_types: test-route" in shop["conditions"][0]["message"]
    assert story.effects_log() == []


def test_a_shared_id_stays_its_owners_across_the_upgrade_that_indexes_shared_declarations(
    tmp_path: Path, database_url: str
) -> None:
    """A database from the release before migration 0009: the upgraded daemon finds the
    owner of a shared id in the table that migration filled, and refuses another repository
    declaring it, as the release before did by reading every app."""
    story, hostile = _with_hostile(tmp_path, database_url)
    shared = (
        "apiVersion: score.dev/v1b1\nmetadata: {name: NAME}\ncontainers: {web: {image: nginx}}\n"
        "resources:\n  cache:\n    type: test-db\n    id: shared-cache\n    params: {size: small}\n"
    )
    story.commit({"apps/shop/score.yaml": shared.replace("NAME", "shop")}, "team a's cache")
    with daemon(story, process=True) as (process, api):
        wait_for(lambda: resource_states(api) == {"cache": "active"})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    downgrade(database_url, "0008")  # as the release before left it
    commit_files(hostile, {"score.yaml": shared.replace("NAME", "blog")}, "co-own the cache")
    push(hostile)
    with daemon(story, process=True) as (process, api):
        wait_for(lambda: get(api + "api/v1/apps/blog")["phase"] == "Invalid")
        assert (
            "belongs to repository 'apps'"
            in get(api + "api/v1/apps/blog")["conditions"][0]["message"]
        )
        assert get(api + "api/v1/apps/shop")["phase"] == "Ready"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert story.effects_log() == ["create cache"]
