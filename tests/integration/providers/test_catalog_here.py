"""``ProviderCatalog.load_here``, the load of ``innominatus plan`` on a machine that is not the
daemon's host: a source held back only by a host-only value is left out and named, every real
provider error still refuses the set, and the daemon's own ``load``/``reload`` stay strict."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.assembly.catalog import ProviderCatalog
from reconciler.errors import PermanentError
from reconciler.settings import ProviderSourceSettings
from tests.gitutil import commit_files, git, make_repo, push
from tests.integration.providers.test_catalog import MANIFEST, WORKFLOW, provider_files


def folder(tmp_path: Path, name: str, type_: str) -> Path:
    path = tmp_path / name
    (path / "workflows").mkdir(parents=True)
    (path / "provider.yaml").write_text(
        MANIFEST.format(version="1.0.0", type=type_).replace("name: team", f"name: {name}")
    )
    (path / "workflows" / "create.yaml").write_text(WORKFLOW)
    return path


def catalog(
    tmp_path: Path, *sources: dict[str, Any], tokens: dict[str, str | None] | None = None
) -> ProviderCatalog:
    return ProviderCatalog(
        sources=[ProviderSourceSettings.model_validate(source) for source in sources],
        data_dir=tmp_path / "data",
        known_step_types={"shell"},
        tokens=tokens or {},
    )


def test_a_missing_folder_leaves_that_source_out_and_loads_the_others(tmp_path: Path) -> None:
    cat = catalog(
        tmp_path,
        {"name": "team-a", "path": str(tmp_path / "srv" / "team-a")},
        {"name": "team-b", "path": str(folder(tmp_path, "team-b", "queue"))},
    )
    loaded, host_only = cat.load_here()
    assert loaded.providers.claimed() == ["queue"]
    assert [(value.source, value.setting) for value in host_only] == [("team-a", "path")]


def test_the_daemon_still_refuses_the_whole_set_for_a_missing_folder(tmp_path: Path) -> None:
    cat = catalog(
        tmp_path,
        {"name": "team-a", "path": str(tmp_path / "srv" / "team-a")},
        {"name": "team-b", "path": str(folder(tmp_path, "team-b", "queue"))},
    )
    with pytest.raises(PermanentError, match="provider set refused"):
        cat.load()
    assert not cat.reload()
    assert cat.current is None
    assert "team-a" in (cat.refusal or "")


def no_manifest(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "empty").mkdir()
    return {"name": "team-c", "path": str(tmp_path / "empty")}


def claiming_queue_too(tmp_path: Path) -> dict[str, Any]:
    return {"name": "team-c", "path": str(folder(tmp_path, "team-c", "queue"))}


def pinned_to_other_content(tmp_path: Path) -> dict[str, Any]:
    return {"name": "team-c", "path": str(folder(tmp_path, "team-c", "db")), "sha256": "0" * 64}


@pytest.mark.parametrize(
    ("broken", "refusal"),
    [
        (no_manifest, "provider manifest .* not found"),
        (claiming_queue_too, "'queue' is claimed by two providers"),
        (pinned_to_other_content, "does not match the pinned sha256"),
    ],
)
def test_real_provider_errors_still_refuse_the_plan(
    tmp_path: Path, broken: Callable[[Path], dict[str, Any]], refusal: str
) -> None:
    cat = catalog(
        tmp_path,
        {"name": "team-a", "path": str(tmp_path / "srv" / "team-a")},
        {"name": "team-b", "path": str(folder(tmp_path, "team-b", "queue"))},
        broken(tmp_path),
    )
    with pytest.raises(PermanentError, match=refusal):
        cat.load_here()


def test_an_unset_token_is_host_only_when_the_fetch_fails_without_it(tmp_path: Path) -> None:
    cat = catalog(
        tmp_path,
        {
            "name": "team-b",
            "type": "git",
            "repository": "https://127.0.0.1:9/team-b.git",
            "ref": "v1",
            "token_env": "TEAM_B_TOKEN",
        },
        tokens={"team-b": None},
    )
    try:
        loaded, host_only = cat.load_here()
    finally:
        cat.close()
    assert loaded.providers.claimed() == []
    (value,) = host_only
    assert value.key == "providers[team-b].token_env"
    assert "TEAM_B_TOKEN is not set on this machine" in value.message


def test_with_the_token_set_a_failed_fetch_stays_a_problem(tmp_path: Path) -> None:
    cat = catalog(
        tmp_path,
        {
            "name": "team-b",
            "type": "git",
            "repository": "https://127.0.0.1:9/team-b.git",
            "ref": "v1",
            "token_env": "TEAM_B_TOKEN",
        },
        tokens={"team-b": "t0ken"},
    )
    try:
        with pytest.raises(PermanentError, match="git fetch failed"):
            cat.load_here()
    finally:
        cat.close()


def test_an_unset_token_a_repository_does_not_need_is_no_note(tmp_path: Path) -> None:
    work, _ = make_repo(tmp_path, "team")
    commit_files(work, provider_files("1.0.0"), "release")
    git(work, "tag", "v1.0.0")
    push(work)
    git(work, "push", "--quiet", "origin", "--tags")
    cat = catalog(
        tmp_path,
        {
            "name": "team",
            "type": "git",
            "repository": str(tmp_path / "team.git"),
            "ref": "v1.0.0",
            "token_env": "TEAM_TOKEN",
        },
        tokens={"team": None},
    )
    try:
        loaded, host_only = cat.load_here()
    finally:
        cat.close()
    assert (loaded.providers.claimed(), host_only) == (["db"], ())
