"""`innominatus plan` as users and CI run it: a real clone with a feature branch, the provider
of the end-to-end story, the console script's command (the CI jobs run the real script).
Exit codes, the three formats,
`--output-dir`, the repository entry found by the clone's remote, `--against-state` after a
real `innominatus reconcile`, and the GitHub Actions job posting its sticky comment."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler.plan.render import MARKER, SCHEMA_PATH
from reconciler.plan.review.params import DEFAULT_SALT, Masker
from tests.e2e.conftest import Story, make_story
from tests.gitutil import git
from tests.integration.ci.test_sticky_comment import make_forge

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ci"


def score(name: str, resources: str) -> str:
    return (
        f"apiVersion: score.dev/v1b1\nmetadata: {{name: {name}}}\n"
        f"containers: {{web: {{image: nginx}}}}\nresources:\n{resources}"
    )


def db(size: str, password: str = "pw-one") -> str:
    return (
        f"  store:\n    type: test-db\n    params: {{size: {size}, admin_password: {password}}}\n"
    )


def branch(tmp_path: Path, base: dict[str, str | None], head: dict[str, str | None]) -> Story:
    """A story whose main holds ``base`` and whose branch ``feature`` adds ``head``."""
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    story.commit(base, "base")
    git(story.work, "checkout", "--quiet", "-b", "feature")
    story.commit(head, "feature")
    return story


def plan(story: Story, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = story.innominatus(
        "plan", "--repo", str(story.work), "--base", "main", "--head", "feature", *args, env=env
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def story(tmp_path: Path) -> Story:
    """shop grows its store (and rotates its password), blog is new, legacy is removed."""
    return branch(
        tmp_path,
        {
            "apps/shop/score.yaml": score("shop", db("small")),
            "apps/legacy/score.yaml": score("legacy", db("small")),
            "apps/keep/score.yaml": score("keep", db("small")),
        },
        {
            "apps/shop/score.yaml": score("shop", db("large", "pw-two")),
            "apps/blog/score.yaml": score("blog", db("tiny")),
            "apps/legacy/score.yaml": None,
        },
    )


def test_a_branch_with_changes_exits_two_and_prints_the_plan(story: Story) -> None:
    code, out, _ = plan(story)
    assert code == 2
    assert out.startswith("Plan: 1 to create, 1 to update, 1 to delete\n")
    assert "  1. ~ update test-db.default#shop.store\n       runs test-team/update-test-db\n" in out
    assert "(repository apps)" in out  # the config entry, found through the clone's origin
    assert "pw-one" not in out
    assert "pw-two" not in out
    assert "~ admin_password: ***" in out


def test_a_branch_changing_no_score_file_exits_zero(tmp_path: Path) -> None:
    story = branch(tmp_path, {"apps/a/score.yaml": score("app-a", db("s"))}, {"README.md": "x"})
    code, out, _ = plan(story)
    assert (code, out.splitlines()[0]) == (0, "No changes.")


def test_problems_exit_one_with_file_and_line(tmp_path: Path) -> None:
    story = branch(
        tmp_path, {"apps/a/score.yaml": score("app-a", db("s"))}, {"apps/b/score.yaml": "x: ["}
    )
    code, out, _ = plan(story)
    assert code == 1
    assert "  ! invalid-file: apps/b/score.yaml:2:1: invalid YAML" in out


def test_deleting_everything_names_the_confirmation_the_daemon_will_wait_for(
    tmp_path: Path,
) -> None:
    story = branch(
        tmp_path, {"apps/a/score.yaml": score("app-a", db("s"))}, {"apps/a/score.yaml": None}
    )
    code, out, _ = plan(story)
    assert code == 1
    assert "run `innominatus confirm apps`" in out


def test_json_follows_the_shipped_schema(story: Story) -> None:
    _, out, _ = plan(story, "--format", "json")
    document = json.loads(out)
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert document["repository"] == "apps"
    assert document["head"]["commit"] == git(story.work, "rev-parse", "feature")


def test_markdown_parts_go_to_stdout_or_to_files_replacing_older_ones(story: Story) -> None:
    salt = {"INNOMINATUS_PLAN_MASK_SALT": "same salt, same masks"}
    _, printed, _ = plan(story, "--format", "markdown", env=salt)
    assert printed.startswith(f"{MARKER}\n<!-- innominatus-plan part 1 of 1 -->\n")
    folder = story.root / "out"
    folder.mkdir()
    (folder / "plan-2.md").write_text("left from a longer plan")
    code, out, err = plan(story, "--format", "markdown", "--output-dir", str(folder), env=salt)
    assert (code, out) == (2, "")
    assert "wrote 1 part(s)" in err
    assert sorted(p.name for p in folder.iterdir()) == ["plan-1.md"]
    assert (folder / "plan-1.md").read_text() == printed


def test_usage_errors_exit_one_because_two_means_changes(story: Story) -> None:
    assert plan(story, "--output-dir", "x")[0] == 1
    assert plan(story, "--format", "yaml")[0] == 1


def test_a_clone_no_config_entry_names_uses_the_default_globs(tmp_path: Path) -> None:
    story = branch(
        tmp_path,
        {"apps/a/score.yaml": score("app-a", db("s")), "x/a.score.yaml": score("app-x", db("s"))},
        {"x/a.score.yaml": score("app-x", db("m")), "deploy.yaml": score("app-z", db("s"))},
    )
    git(story.work, "remote", "remove", "origin")
    code, out, _ = plan(story)
    assert code == 2
    assert "app app-x (x/a.score.yaml)" in out
    assert "app-z" not in out
    assert "(repository" not in out


def test_the_include_globs_of_the_matching_entry_select_the_score_files(tmp_path: Path) -> None:
    story = branch(
        tmp_path,
        {"apps/a/score.yaml": score("app-a", db("s"))},
        {"deploy/new.yaml": score("app-n", db("s")), "apps/b/score.yaml": score("app-b", db("s"))},
    )
    config = story.config.read_text().replace(
        "prune: true", "prune: true\n    include: [deploy/*.yaml]"
    )
    story.config.write_text(config)
    code, out, _ = plan(story)
    assert code == 2
    assert "app app-n" in out
    assert "app-b" not in out


def test_the_mask_salt_changes_masks_but_not_what_is_masked(story: Story) -> None:
    _, one, _ = plan(story, env={"INNOMINATUS_PLAN_MASK_SALT": "one"})
    _, two, _ = plan(story, env={"INNOMINATUS_PLAN_MASK_SALT": "two"})
    masks = [line for line in one.splitlines() if "admin_password" in line]
    assert masks
    assert masks != [line for line in two.splitlines() if "admin_password" in line]


def test_without_a_salt_each_run_masks_secrets_with_a_random_one(story: Story) -> None:
    def masks(out: str) -> list[str]:
        return [line for line in out.splitlines() if "admin_password" in line]

    _, one, _ = plan(story)
    _, two, _ = plan(story)
    assert masks(one)
    assert masks(one) != masks(two)  # no constant salt a guess could be checked against
    public = Masker(DEFAULT_SALT)
    for shown in (public.mask("pw-one"), public.mask("pw-two")):
        assert shown not in one + two


def test_a_missing_required_workflow_parameter_is_a_problem(tmp_path: Path) -> None:
    story = branch(tmp_path, {"apps/a/score.yaml": score("app-a", db("s"))}, {})
    create = story.root / "provider" / "workflows" / "create-test-db.yaml"
    create.write_text(
        create.read_text().replace(
            "parameters:", "parameters:\n  - {name: region, type: string, required: true}", 1
        )
    )
    story.commit({"apps/b/score.yaml": score("app-b", db("s"))}, "new app")
    code, out, _ = plan(story)
    assert code == 1
    where = (
        "! parameters (app-b): apps/b/score.yaml:5: test-db.default#app-b.store: "
        "workflow create-test-db: "
    )
    assert where + "required parameter 'region' is missing" in out


def test_against_state_shows_what_the_daemon_would_do_and_writes_nothing(tmp_path: Path) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    story.commit({"apps/a/score.yaml": score("app-a", db("s"))}, "base")
    story.innominatus("reconcile", check=True)
    git(story.work, "checkout", "--quiet", "-b", "feature")
    database = tmp_path / "state.db"
    before = database.read_bytes()
    assert plan(story, "--against-state", "--head", "main")[0] == 0
    story.commit({"apps/a/score.yaml": score("app-a", db("m", "pw-rotated"))}, "bigger")
    code, out, _ = plan(story, "--against-state")
    assert code == 2
    assert out.startswith("Plan: 0 to create, 1 to update, 0 to delete\n")
    assert "Compared: recorded state -> feature" in out
    assert '~ size: "s" -> "m"' in out
    assert "pw-one" not in out
    assert "pw-rotated" not in out
    assert database.read_bytes() == before


def test_against_state_without_a_database_says_what_to_do_and_creates_none(
    tmp_path: Path,
) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'none.db'}")
    story.commit({"apps/a/score.yaml": score("app-a", db("s"))}, "base")
    code, _, err = plan(story, "--against-state", "--head", "main")
    assert code == 1
    assert "no database at" in err
    assert "run `innominatus run` or `innominatus reconcile` first" in err
    assert not (tmp_path / "none.db").exists()


def test_against_state_needs_the_clone_to_be_a_configured_repository(story: Story) -> None:
    git(story.work, "remote", "remove", "origin")
    code, _, err = plan(story, "--against-state")
    assert code == 1
    assert "no entry under repositories:" in err


def test_the_github_actions_job_posts_and_then_updates_one_sticky_comment(story: Story) -> None:
    """The workflow's own step scripts, run in order against the real clone and a fake gh."""
    forge = make_forge(story.root / "forge", "github")
    steps = {
        s.get("name"): s
        for s in yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())["jobs"]["plan"][
            "steps"
        ]
    }
    scripts = story.work / ".github" / "scripts"
    scripts.mkdir(parents=True)
    (scripts / "innominatus-sticky-comment.sh").write_text(
        (EXAMPLES / "sticky-comment.sh").read_text()
    )

    def run_job() -> str:
        # Story.commit pushes every commit to origin's main; the pull request's base is main.
        git(story.work, "update-ref", "refs/remotes/origin/main", "main")
        runner = story.root / "runner"
        runner.mkdir(exist_ok=True)
        output = runner / "github_output"
        output.write_text("")
        env = forge.env(
            BASE_REF="main",
            RUNNER_TEMP=str(runner),
            GITHUB_OUTPUT=str(output),
            INNOMINATUS_CONFIG=str(story.config),
            PATH=f"{Path(sys.executable).parent}:{forge.env()['PATH']}",
        )
        for name in ("plan", "comment"):
            done = subprocess.run(
                ["bash", "-e", "-c", steps[name]["run"]],
                cwd=story.work,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
        return output.read_text()

    assert run_job() == "exit=2\n"
    (comment,) = forge.comments()
    assert str(comment["body"]).startswith(f"{MARKER}\n")
    assert "Plan: 1 to create, 1 to update, 1 to delete" in str(comment["body"])
    story.commit(
        {"apps/blog/score.yaml": None, "apps/legacy/score.yaml": score("legacy", db("small"))},
        "less",
    )
    assert run_job() == "exit=2\n"
    (updated,) = forge.comments()
    assert updated["id"] == comment["id"]
    assert "Plan: 0 to create, 1 to update, 0 to delete" in str(updated["body"])


def test_the_gitlab_job_posts_one_note_and_fails_only_on_problems(story: Story) -> None:
    """The job's script lines, run as GitLab runs them (one shell, errexit)."""
    forge = make_forge(story.root / "forge", "gitlab")
    job = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())["innominatus-plan"]
    (story.work / "ci").mkdir()
    (story.work / "ci" / "innominatus-sticky-comment.sh").write_text(
        (EXAMPLES / "sticky-comment.sh").read_text()
    )

    def run_job() -> subprocess.CompletedProcess[str]:
        env = forge.env(
            CI_MERGE_REQUEST_DIFF_BASE_SHA=git(story.work, "rev-parse", "main"),
            INNOMINATUS_CONFIG=str(story.config),
            PATH=f"{Path(sys.executable).parent}:{forge.env()['PATH']}",
        )
        script = "\n".join(job["script"])
        return subprocess.run(
            ["sh", "-e", "-c", script],
            cwd=story.work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    done = run_job()
    assert done.returncode == 0, done.stderr
    (note,) = forge.comments()
    assert "Plan: 1 to create, 1 to update, 1 to delete" in str(note["body"])
    story.commit({"apps/broken/score.yaml": "x: ["}, "break a file")
    done = run_job()
    assert done.returncode == 1
    assert "innominatus plan found problems" in done.stdout
    (note,) = forge.comments()
    assert "invalid-file" in str(note["body"])


@pytest.mark.parametrize(
    ("path", "selected"),
    [
        ("apps/a/score.yaml", True),
        ("apps/a/web.score.yaml", True),
        ("providers/db/provider.yaml", True),
        ("providers/db/workflows/create.yaml", True),
        ("apps/a/myscore.yaml", False),
        ("docs/notes.yaml", False),
    ],
)
def test_the_pre_commit_hook_selects_score_and_provider_files(path: str, selected: bool) -> None:
    (hook,) = yaml.safe_load((EXAMPLES.parents[1] / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "innominatus validate"
    assert bool(re.search(hook["files"], path)) is selected


def test_the_pre_commit_hook_entry_fails_on_a_broken_score_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "score.yaml", tmp_path / "b.score.yaml"
    good.write_text(score("app-a", db("s")))
    bad.write_text("apiVersion: [\n")

    def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "reconciler", "validate", *map(str, paths)]
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)

    assert validate(good).returncode == 0
    failed = validate(good, bad)
    assert failed.returncode == 1
    assert f"{bad}:2:" in failed.stdout + failed.stderr
