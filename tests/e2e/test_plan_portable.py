"""`innominatus plan` in CI with the daemon's own configuration, through the installed console
script: a ``data_dir`` that cannot be created here, a provider folder that exists only on the
daemon's host, a ``token_env`` that is not set, installation parameters naming environment
variables of that host. The plan still resolves every other provider's workflows (a git source
fetched into a temporary folder), names each host-only value once, shows the types it cannot
know as unknown on this machine, and exits 2 for changes: the daemon's host has those values."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from reconciler.plan.render import SCHEMA_PATH
from tests.e2e.conftest import Story
from tests.e2e.test_plan_cli import branch, db, score
from tests.gitutil import commit_files, git, make_repo, push
from tests.integration.providers.test_catalog import provider_files

POSTGRES = Path(__file__).resolve().parents[2] / "providers" / "postgres"
HOST_ONLY = ("TEAM_B_TOKEN", "PG_ADMIN_DSN_ON_THE_HOST")


@pytest.fixture
def story(tmp_path: Path) -> Story:
    """shop grows its store (test-team, a folder), adds a db (team, a git source), a queue (a
    type of team-a, whose folder is not here) and a postgres database (its admin DSN is an
    environment variable of the daemon's host)."""
    story = branch(
        tmp_path,
        {"apps/shop/score.yaml": score("shop", db("small"))},
        {
            "apps/shop/score.yaml": score(
                "shop",
                db("large")
                + "  cache:\n    type: db\n"
                + "  queue:\n    type: team-a-queue\n"
                + "  orders:\n    type: postgres\n",
            )
        },
    )
    work, _ = make_repo(tmp_path, "team")
    commit_files(work, provider_files("1.0.0"), "release")
    git(work, "tag", "v1.0.0")
    push(work)
    git(work, "push", "--quiet", "origin", "--tags")
    (tmp_path / "file").write_text("a regular file: nothing can be created under it\n")
    config = story.config.read_text().replace(
        f"data_dir: {tmp_path / 'data'}", f"data_dir: {tmp_path / 'file' / 'data'}"
    )
    story.config.write_text(
        config
        + "  - {name: team-a, type: filesystem, path: /srv/innominatus-nowhere/team-a}\n"
        + "  - {name: team-b, type: git, repository: 'https://127.0.0.1:9/team-b.git',"
        " ref: v1, token_env: TEAM_B_TOKEN}\n"
        + f"  - {{name: team, type: git, repository: {tmp_path / 'team.git'}, ref: v1.0.0}}\n"
        + f"  - {{name: postgres, type: filesystem, path: {POSTGRES},"
        " parameters: {admin_dsn_env: PG_ADMIN_DSN_ON_THE_HOST, host: pg.internal}}\n"
    )
    return story


def plan(story: Story, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script, as the CI jobs run it, without the host's variables."""
    scratch = story.root / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in HOST_ONLY} | {"TMPDIR": str(scratch)}
    script = Path(sys.executable).with_name("innominatus")
    command = [str(script), "plan", "--repo", str(story.work), "--base", "main", "--head"]
    result = subprocess.run(
        [*command, "feature", "--config", str(story.config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=story.root,
        env=env,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_host_only_values_are_named_once_and_the_other_providers_still_plan(
    story: Story,
) -> None:
    result = plan(story)
    out = result.stdout
    assert result.returncode == 2, out + result.stderr
    assert out.startswith("Plan: 3 to create, 1 to update, 0 to delete\n")
    assert "runs test-team/update-test-db\n" in out  # a folder here
    assert "runs team/create\n" in out  # a git source, fetched into a temporary folder
    assert "runs postgres/create-database\n" in out  # its admin DSN is read when it runs
    assert re.search(
        r"\+ create team-a-queue\.default#shop\.queue\n"
        r"       runs unknown on this machine \(providers not loadable here: team-a: path "
        r"/srv/innominatus-nowhere/team-a does not exist on this machine; team-b: token_env "
        r"TEAM_B_TOKEN is not set on this machine\)\n",
        out,
    ), out
    assert out.count("providers[team-a].path: /srv/innominatus-nowhere/team-a") == 1
    assert out.count("providers[team-b].token_env: TEAM_B_TOKEN is not set") == 1
    assert "Problems:" not in out
    assert "no provider claims" not in out
    (notice,) = result.stderr.splitlines()
    assert notice.startswith(f"note: data_dir {story.root / 'file' / 'data'} cannot be used")
    scratch = Path(notice.rsplit("temporary folder ", 1)[1].split(",")[0])
    assert scratch.parent == story.root / "tmp"
    assert not scratch.exists()  # removed once the plan is made


def test_the_json_document_carries_the_notes_and_stays_valid(story: Story) -> None:
    result = plan(story, "--format", "json")
    document = json.loads(result.stdout)
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert (result.returncode, document["exit_code"], document["problems"]) == (2, 2, [])
    assert [n["setting"] for n in document["notes"]] == [
        "providers[team-a].path",
        "providers[team-b].token_env",
    ]
    (app,) = document["apps"]
    unknown = {a["uid"]: a.get("workflow_unknown") for a in app["actions"]}
    assert unknown["team-a-queue.default#shop.queue"] is not None
    assert unknown["db.default#shop.cache"] is None


def test_a_real_provider_error_still_fails_the_plan(story: Story) -> None:
    broken = story.root / "broken"
    broken.mkdir()
    with story.config.open("a") as config:
        config.write(f"  - {{name: broken, type: filesystem, path: {broken}}}\n")
    result = plan(story)
    assert result.returncode == 1
    assert "! provider-set: provider set refused" in result.stdout
    assert f"{broken}/provider.yaml" in result.stdout
