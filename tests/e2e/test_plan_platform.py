"""`innominatus plan` and the platform in Git: a pull request to the platform repository shows
which recorded resources a provider change would update (and refuses a set the daemon would
refuse); an app repository's plan resolves with the set the platform repository's tip holds;
params no workflow declares are warnings with ``file:line`` in ``plan`` and ``validate
--config``; an app change that edits provider files says they are not loaded from its head."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.plan.render import SCHEMA_PATH
from tests.e2e.conftest import Story
from tests.e2e.test_plan_cli import branch, db, plan, score
from tests.e2e.test_platform_repository import APP, APP_WITH_SECOND, platform_file, provider_files
from tests.gitutil import commit_files, git, make_repo, push
from tests.inprocess import invoke

MISSPELT = "  store:\n    type: test-db\n    params:\n      size: large\n      sise: large\n"


class Platform:
    def __init__(self, tmp_path: Path) -> None:
        self.apps_work, apps_bare = make_repo(tmp_path, "apps")
        commit_files(self.apps_work, {"shop/score.yaml": APP}, "shop")
        push(self.apps_work)
        self.work, bare = make_repo(tmp_path, "platform")
        commit_files(
            self.work, {**provider_files(), "platform.yaml": platform_file("eu-west-1")}, "base"
        )
        push(self.work)
        self.config = tmp_path / "cfg.yaml"
        self.config.write_text(
            f"database: sqlite:///{tmp_path / 'state.db'}\n"
            f"data_dir: {tmp_path / 'data'}\n"
            f"repositories: [{{name: apps, url: {apps_bare}}}]\n"
            f"platform: {{repository: {bare}}}\n"
        )

    def innominatus(self, *args: str) -> tuple[int, str, str]:
        result = invoke([*args, "--config", str(self.config)])
        assert "Traceback" not in result.stderr, result.stderr
        return result.returncode, result.stdout, result.stderr

    def propose(self, name: str, files: dict[str, str | None]) -> None:
        git(self.work, "checkout", "--quiet", "-b", name, "main")
        commit_files(self.work, files, name)

    def plan(self, head: str, *args: str) -> tuple[int, str, str]:
        return self.innominatus("plan", "--repo", str(self.work), "--head", head, *args)


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = Platform(tmp_path)
    code, _out, err = platform.innominatus("reconcile")
    assert code == 0, err
    return platform


def test_a_platform_change_of_installation_parameters_plans_an_update_of_their_resources(
    platform: Platform,
) -> None:
    platform.propose("move", {"platform.yaml": platform_file("eu-central-1")})

    code, out, _err = platform.plan("move")

    assert code == 2, out
    assert "repository platform" in out
    assert "update environment.default#shop.env" in out
    assert "runs environment/publish-environment" in out
    assert "why: provider installation changed (installation parameters changed)" in out
    code, document, _err = platform.plan("move", "--format", "json")
    jsonschema.validate(json.loads(document), json.loads(SCHEMA_PATH.read_text()))


def test_a_platform_change_dropping_a_provider_with_live_resources_is_a_problem(
    platform: Platform,
) -> None:
    platform.propose("drop", {"platform.yaml": "providers: []\n"})

    code, out, _err = platform.plan("drop")

    assert code == 1, out
    assert "provider-set: resource type 'environment' has 1 live resource(s)" in out


def test_a_new_provider_version_alone_is_a_warning_not_an_update(platform: Platform) -> None:
    manifest = provider_files()["providers/environment/provider.yaml"]
    platform.propose(
        "bump",
        {"providers/environment/provider.yaml": manifest.replace("1.0.0", "1.1.0", 1)},
    )

    code, out, _err = platform.plan("bump")

    assert code == 0, out
    assert "provider-change: environment 1.0.0 -> environment 1.1.0" in out
    assert "nothing runs for environment.default#shop.env now" in out


def test_a_broken_platform_file_in_a_change_is_a_problem_with_its_line(
    platform: Platform,
) -> None:
    platform.propose("typo", {"platform.yaml": platform_file("x") + "step_default: {}\n"})

    code, out, _err = platform.plan("typo")

    assert code == 1, out
    assert "platform.yaml:5:1: step_default: unknown key" in out


def test_an_app_plan_resolves_with_the_platform_repositorys_providers(
    platform: Platform,
) -> None:
    git(platform.apps_work, "checkout", "--quiet", "-b", "more")
    commit_files(platform.apps_work, {"shop/score.yaml": APP_WITH_SECOND}, "env2")

    code, out, _err = platform.innominatus(
        "plan", "--repo", str(platform.apps_work), "--head", "more"
    )

    assert code == 2, out
    assert "create environment.default#shop.env2" in out
    assert "runs environment/publish-environment" in out


def test_a_param_no_workflow_declares_is_a_warning_with_its_line_in_plan(
    tmp_path: Path,
) -> None:
    story = branch(
        tmp_path,
        {"shop/score.yaml": score("shop", db("small"))},
        {"shop/score.yaml": score("shop", MISSPELT)},
    )

    code, out, _err = plan(story)
    _code, document, _err = plan(story, "--format", "json")
    _code, markdown, _err = plan(story, "--format", "markdown")

    assert code == 2, out
    warning = (
        "shop/score.yaml:5:3: resources.store.params.sise: workflow test-team/update-test-db "
        "does not declare it, so it is dropped; check its spelling"
    )
    assert f"  ~ unknown-param: {warning}" in out
    assert "Problems:" not in out
    notes = json.loads(document)["notes"]
    assert {"kind": "unknown-param", "source": None, "setting": None, "message": warning} in notes
    assert "#### Warnings" in markdown


def test_a_param_no_workflow_declares_is_a_warning_with_its_line_in_validate(
    tmp_path: Path,
) -> None:
    story = branch(tmp_path, {}, {"shop/score.yaml": score("shop", MISSPELT)})

    result = story.innominatus("validate", str(story.work / "shop" / "score.yaml"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"warning: {story.work / 'shop' / 'score.yaml'}:5:3: resources.store.params.sise: "
        "workflow create-test-db does not declare it" in result.stderr
    )


def test_an_app_change_editing_provider_files_says_providers_are_not_loaded_from_its_head(
    story: Story,
) -> None:
    story.commit({"shop/score.yaml": score("shop", db("small"))}, "base")
    git(story.work, "checkout", "--quiet", "-b", "feature")
    story.commit(
        {
            "shop/score.yaml": score("shop", db("large")),
            "providers/db/provider.yaml": "kind: Provider\n",
            "providers/db/workflows/create.yaml": "steps: []\n",
        },
        "feature",
    )

    code, out, _err = plan(story)

    assert code == 2, out
    assert "providers-not-from-head: this change edits provider files" in out
    assert "providers/db/provider.yaml, providers/db/workflows/create.yaml" in out
    assert "providers are not loaded from the head of this change" in out


def test_providers_list_shows_the_set_of_the_platform_repositorys_tip(
    platform: Platform,
) -> None:
    code, out, err = platform.innominatus("providers", "list", "--output", "json")

    assert code == 0, err
    (provider,) = json.loads(out)["providers"]
    assert (provider["name"], provider["version"], provider["types"]) == (
        "environment",
        "1.0.0",
        ["environment"],
    )
    assert provider["commit"] == git(platform.work, "rev-parse", "main")
