"""The platform in Git: with ``platform:`` configured, the provider set comes from the platform
repository's ``platform.yaml``. A commit there changes the running set live; a bad commit is
refused whole (its refusal on that repository's status branch, in ``/api/v1/providers`` and in
the log) while the previous set keeps reconciling; fixing it recovers. At start, an
unreachable repository falls back to the last good commit, never to an empty set."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.assembly.runtime import build
from reconciler.errors import ConfigError
from reconciler.settings import load_settings
from tests.e2e.daemons import get, wait_for
from tests.gitutil import commit_files, make_repo, push
from tests.inprocess import in_process_daemon

ROOT = Path(__file__).resolve().parents[2]
APP = """\
apiVersion: score.dev/v1b1
metadata: {name: shop}
containers: {web: {image: nginx, variables: {REGION: "${resources.env.REGION}"}}}
resources:
  env: {type: environment}
"""
APP_WITH_SECOND = APP + "  env2: {type: environment}\n"


def platform_file(region: str) -> str:
    return (
        "providers:\n"
        "  - name: environment\n"
        "    path: providers/environment\n"
        f"    parameters: {{values: {{REGION: {region}}}}}\n"
    )


def provider_files() -> dict[str, str]:
    source = ROOT / "providers" / "environment"
    return {
        f"providers/environment/{path.relative_to(source)}": path.read_text()
        for path in source.rglob("*")
        if path.is_file()
    }


def configure(tmp_path: Path, database_url: str, apps: Path, platform: Path) -> Path:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"database: {database_url}\n"
        f"data_dir: {tmp_path / 'data'}\n"
        "api: {host: 127.0.0.1, port: 0}\n"
        "engine: {backoff: {initial: 1s, max: 2s}}\n"
        "repositories:\n"
        f"  - {{name: apps, url: {apps}, interval: 1s}}\n"
        f"platform: {{repository: {platform}, interval: 1s}}\n"
    )
    return config


def status_document(bare: Path) -> dict[str, Any] | None:
    shown = subprocess.run(
        ["git", "-C", str(bare), "show", "innominatus-status:platform.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        return None
    loaded: dict[str, Any] = yaml.safe_load(shown.stdout)
    return loaded


def outputs(url: str, resource: str = "env") -> dict[str, Any]:
    document = get(url + "api/v1/apps/shop")
    found: dict[str, Any] = document["resources"].get(resource, {}).get("outputs") or {}
    return found


def test_platform_commits_change_the_provider_set_live_and_a_bad_one_is_refused_whole(
    tmp_path: Path, database_url: str
) -> None:
    apps_work, apps_bare = make_repo(tmp_path, "apps")
    commit_files(apps_work, {"shop/score.yaml": APP}, "shop")
    push(apps_work)
    work, bare = make_repo(tmp_path, "platform")
    first = commit_files(
        work, {**provider_files(), "platform.yaml": platform_file("eu-west-1")}, "platform"
    )
    push(work)
    config = configure(tmp_path, database_url, apps_bare, bare)

    with in_process_daemon(config) as (daemon, url):
        wait_for(lambda: outputs(url) == {"REGION": "eu-west-1"}, timeout=60)
        assert get(url + "api/v1/providers")["platform"]["loaded_commit"] == first

        # A commit to the platform repository changes the set live: the installation
        # parameter moved, so the resource it provisioned is updated.
        moved = commit_files(work, {"platform.yaml": platform_file("eu-central-1")}, "move")
        push(work)
        wait_for(lambda: outputs(url) == {"REGION": "eu-central-1"}, timeout=60)
        wait_for(lambda: (status_document(bare) or {}).get("loaded_commit") == moved)
        assert status_document(bare)["phase"] == "Ready"  # type: ignore[index]

        # Dropping the provider while its resource is live is refused whole.
        dropped = commit_files(work, {"platform.yaml": "providers: []\n"}, "drop")
        push(work)
        wait_for(lambda: (status_document(bare) or {}).get("commit") == dropped, timeout=60)
        refused = status_document(bare)
        assert refused is not None
        assert refused["phase"] == "Refused"
        assert refused["loaded_commit"] == moved
        assert "resource type 'environment' has 1 live resource(s)" in refused["refused"]
        providers = get(url + "api/v1/providers")
        assert providers["platform"]["refused"] == refused["refused"]
        assert [p["name"] for p in providers["providers"]] == ["environment"]

        # A file that does not validate is refused with its file:line.
        broken = commit_files(
            work, {"platform.yaml": platform_file("eu-north-1") + "step_default: {}\n"}, "typo"
        )
        push(work)
        wait_for(lambda: (status_document(bare) or {}).get("commit") == broken, timeout=60)
        problem = status_document(bare)["refused"]  # type: ignore[index]
        assert problem.startswith("platform.yaml:5:1: step_default: unknown key"), problem
        assert "refused: platform.yaml:5:1: step_default" in daemon.log()
        rows = {r["name"]: r for r in get(url + "api/v1/repositories")["repositories"]}
        assert (rows["platform"]["last_error"], rows["platform"]["good_commit"]) == (
            problem,
            moved,
        )

        # The previous set keeps reconciling: a new resource gets the last good values.
        commit_files(apps_work, {"shop/score.yaml": APP_WITH_SECOND}, "second env")
        push(apps_work)
        wait_for(lambda: outputs(url, "env2") == {"REGION": "eu-central-1"}, timeout=60)

        # Fixing the file recovers.
        fixed = commit_files(work, {"platform.yaml": platform_file("eu-north-1")}, "fix")
        push(work)
        wait_for(lambda: outputs(url, "env2") == {"REGION": "eu-north-1"}, timeout=60)
        wait_for(lambda: (status_document(bare) or {}).get("phase") == "Ready")
        assert status_document(bare)["loaded_commit"] == fixed  # type: ignore[index]
        assert get(url + "api/v1/providers")["platform"]["refused"] is None

    # Restarted while the platform repository is unreachable: the last good set runs.
    shutil.move(bare, tmp_path / "gone.git")
    with in_process_daemon(config) as (daemon, url):
        providers = get(url + "api/v1/providers")
        assert providers["platform"]["loaded_commit"] == fixed
        assert "cannot fetch the platform repository" in providers["platform"]["refused"]
        assert "last good commit" in daemon.log()


def test_an_unreachable_platform_repository_with_no_last_good_set_stops_the_start(
    tmp_path: Path, database_url: str
) -> None:
    _apps_work, apps_bare = make_repo(tmp_path, "apps")
    config = configure(tmp_path, database_url, apps_bare, tmp_path / "missing.git")

    with pytest.raises(ConfigError, match="no last good commit") as caught:
        build(load_settings(config), lock=False)

    assert "cannot fetch the platform repository" in caught.value.message


def test_the_config_file_may_not_also_set_providers_when_platform_is_set(
    tmp_path: Path,
) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "platform: {repository: /srv/platform.git}\n"
        "providers:\n"
        "  - {name: environment, path: /srv/providers/environment}\n"
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(config)

    assert caught.value.message.startswith(f"{config}:2:1: providers: platform: is set")
