"""Golden paths run from Git: a ``kind: GoldenPathRun`` file in an app repository is a request
the daemon runs once per content, records like an execution and reports on the status branch;
changing the file runs it again, removing it does nothing, a restart repeats nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from reconciler.plan.render import SCHEMA_PATH
from tests.e2e.conftest import Story, make_story
from tests.e2e.daemons import after_passes, daemon, wait_for
from tests.gitutil import git

GOLDEN_PATH = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: onboard-team
parameters:
  - {{name: team, type: string, required: true, pattern: "[a-z][a-z0-9-]*"}}
  - {{name: size, type: integer, default: 1, min: 1, max: 5}}
  - {{name: visibility, type: string, default: private, allowed_values: [public, private]}}
outputs:
  url: "https://git.example.test/{{{{ .parameters.team }}}}"
  token: {{value: "{{{{ .steps.effect.output.token }}}}", secret: true}}
steps:
  - name: effect
    type: shell
    config:
      script: |
        set -eu
        echo "goldenpath $PARAM_TEAM size=$PARAM_SIZE op=$PARAM_OPERATION" >> {effects}/log.txt
        {extra}
        echo "token=tok-canary-4711" > "$INNOMINATUS_OUTPUTS"
"""

RUN = """\
apiVersion: innominatus.io/v1
kind: GoldenPathRun
metadata:
  name: onboard-payments
path: onboard-team
parameters:
  team: payments
  size: {size}
"""


def golden_story(tmp_path: Path, database_url: str, *, extra: str = "") -> Story:
    story = make_story(tmp_path, database_url)
    provider = tmp_path / "provider"
    (provider / "workflows" / "onboard-team.yaml").write_text(
        GOLDEN_PATH.format(effects=story.effects, extra=extra)
    )
    manifest = yaml.safe_load((provider / "provider.yaml").read_text())
    manifest["workflows"].append(
        {"name": "onboard-team", "file": "./workflows/onboard-team.yaml", "category": "goldenpath"}
    )
    (provider / "provider.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    # Polled every 0.3 s: tests that prove nothing happens wait for passes, not for time.
    text = story.config.read_text().replace("prune: true", "prune: true\n    interval: 0.3s")
    story.config.write_text(text + "api: {host: 127.0.0.1, port: 0}\n")
    return story


def run_status(story: Story, name: str = "onboard-payments") -> dict[str, Any] | None:
    return story.status_document(f"goldenpaths/{name}.yaml")


def ran(story: Story) -> list[str]:
    return [line for line in story.effects_log() if line.startswith("goldenpath")]


def state_is(story: Story, state: str, **extra: Any) -> bool:
    document = run_status(story)
    return (
        document is not None
        and document["state"] == state
        and all(document.get(k) == v for k, v in extra.items())
    )


@pytest.fixture
def story(tmp_path: Path, database_url: str) -> Story:
    return golden_story(tmp_path, database_url)


def test_a_run_file_runs_its_golden_path_once_per_content_and_removing_it_undoes_nothing(
    story: Story,
) -> None:
    story.commit({"runs/payments.yaml": RUN.format(size=2)}, "onboard payments")
    with daemon(story) as (_, url):
        wait_for(lambda: state_is(story, "succeeded"))
        document = run_status(story)
        assert document is not None
        assert document["goldenPath"] == "onboard-team"
        assert document["path"] == "runs/payments.yaml"
        assert document["outputs"] == {"token": "***", "url": "https://git.example.test/payments"}
        assert ran(story) == ["goldenpath payments"]
        log = (story.effects / "log.txt").read_text()
        assert "size=2 op=goldenpath" in log

        after_passes(url, 3)
        assert ran(story) == ["goldenpath payments"], "one content runs once"

        story.commit({"runs/payments.yaml": RUN.format(size=3)}, "bigger")
        wait_for(lambda: len(ran(story)) == 2)
        wait_for(lambda: state_is(story, "succeeded") and "size=3" in _log(story))

        story.commit({"runs/payments.yaml": None}, "done with it")
        after_passes(url, 3)
        assert len(ran(story)) == 2, "a removed run file undoes and repeats nothing"
        assert run_status(story) is not None, "the run happened: its status stays"


def _log(story: Story) -> str:
    return (story.effects / "log.txt").read_text()


def test_a_restarted_daemon_repeats_no_run(story: Story) -> None:
    story.commit({"runs/payments.yaml": RUN.format(size=2)}, "onboard payments")
    with daemon(story):
        wait_for(lambda: state_is(story, "succeeded"))
    with daemon(story) as (_, url):
        after_passes(url, 3)
    assert ran(story) == ["goldenpath payments"]


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("9", "must be at most 5"),
        ("2.5", "must be an integer"),
        ("many", "must be an integer"),
    ],
)
def test_a_parameter_out_of_its_declaration_refuses_the_run_at_its_line_and_runs_nothing(
    story: Story, size: str, problem: str
) -> None:
    story.commit({"runs/payments.yaml": RUN.format(size=size)}, "bad size")
    result = story.innominatus("reconcile")
    assert result.returncode in (0, 1), result.stderr
    document = run_status(story)
    assert document is not None
    assert document["state"] == "refused", document
    assert "runs/payments.yaml:8" in document["error"]
    assert problem in document["error"]
    assert ran(story) == []

    story.commit({"runs/payments.yaml": RUN.format(size=4)}, "fixed")
    story.innominatus("reconcile", check=True)
    assert state_is(story, "succeeded")
    assert ran(story) == ["goldenpath payments"]


def test_a_run_of_an_unknown_golden_path_is_refused_naming_the_golden_paths_there_are(
    story: Story,
) -> None:
    story.commit(
        {"runs/payments.yaml": RUN.format(size=1).replace("path: onboard-team", "path: onbord")},
        "typo",
    )
    story.innominatus("reconcile")
    document = run_status(story)
    assert document is not None
    assert document["state"] == "refused"
    assert "no loaded provider offers golden path 'onbord'" in document["error"]
    assert "test-team/onboard-team" in document["error"]


def test_a_broken_run_file_is_a_repository_problem_and_breaks_nothing_else(story: Story) -> None:
    story.commit({"runs/payments.yaml": "kind: GoldenPathRun\nmetadata: {name: Bad_Name}\n"}, "x")
    result = story.innominatus("reconcile")
    status = story.innominatus("repositories", "list", "-o", "json")
    assert "runs/payments.yaml:2" in status.stdout + result.stderr + result.stdout
    assert ran(story) == []


def test_a_daemon_killed_during_a_run_records_it_interrupted_and_does_not_repeat_it(
    tmp_path: Path, database_url: str
) -> None:
    release = tmp_path / "release"
    story = golden_story(
        tmp_path,
        database_url,
        extra=f"while [ ! -e {release} ]; do sleep 0.05; done",
    )
    story.commit({"runs/payments.yaml": RUN.format(size=2)}, "onboard payments")
    with daemon(story, process=True) as (process, _):
        wait_for(lambda: len(ran(story)) == 1)
        process.kill()
        process.wait(timeout=30)
    release.touch()
    with daemon(story) as (_, url):
        wait_for(lambda: state_is(story, "interrupted"))
        after_passes(url, 3)
    document = run_status(story)
    assert document is not None
    assert "change the run file to run it again" in document["error"]
    assert ran(story) == ["goldenpath payments"], "an interrupted golden path is not repeated"


def test_goldenpaths_list_and_show_give_the_parameters_and_the_runs_requested(
    story: Story,
) -> None:
    story.commit({"runs/payments.yaml": RUN.format(size=2)}, "onboard payments")
    story.innominatus("reconcile", check=True)

    listed = story.innominatus("goldenpaths", "list", check=True)
    assert "test-team/onboard-team" in listed.stdout
    assert "team, size, visibility" in listed.stdout

    shown = story.innominatus("goldenpaths", "show", "onboard-team", "-o", "json", check=True)
    document = json.loads(shown.stdout)
    size = next(p for p in document["parameters"] if p["name"] == "size")
    assert size == {
        "name": "size",
        "type": "integer",
        "required": False,
        "default": 1,
        "description": "",
        "min": 1,
        "max": 5,
    }
    assert [(r["run"], r["state"], r["path"]) for r in document["runs"]] == [
        ("onboard-payments", "succeeded", "runs/payments.yaml")
    ]
    table = story.innominatus("goldenpaths", "show", "test-team/onboard-team", check=True)
    assert "apps/onboard-payments" in table.stdout
    assert "succeeded" in table.stdout

    unknown = story.innominatus("goldenpaths", "show", "nope")
    assert unknown.returncode != 0
    assert "no loaded provider offers golden path 'nope'" in unknown.stderr


def _feature(tmp_path: Path, base: dict[str, str | None], head: dict[str, str | None]) -> Story:
    story = golden_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    story.commit({"apps/shop/score.yaml": SCORE_SHOP, **base}, "base")
    git(story.work, "checkout", "--quiet", "-b", "feature")
    story.commit(head, "feature")
    return story


def _plan(story: Story, *args: str) -> tuple[int, str]:
    result = story.innominatus(
        "plan", "--repo", str(story.work), "--base", "main", "--head", "feature", *args
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


SCORE_SHOP = "apiVersion: score.dev/v1b1\nmetadata: {name: shop}\ncontainers: {web: {image: x}}\n"


def test_plan_shows_the_golden_path_runs_a_merge_would_start(tmp_path: Path) -> None:
    story = _feature(
        tmp_path,
        {"runs/kept.yaml": RUN.format(size=1).replace("onboard-payments", "kept")},
        {"runs/payments.yaml": RUN.format(size=2), "runs/api_token.run.yaml": None},
    )

    code, out = _plan(story)
    _, document = _plan(story, "--format", "json")
    _, markdown = _plan(story, "--format", "markdown")

    assert code == 2, out
    assert out.startswith("Plan: 0 to create, 0 to update, 0 to delete, 1 golden path run to start")
    assert (
        "  > run onboard-payments (runs/payments.yaml): test-team/onboard-team, new file; "
        'size=2, team="payments"'
    ) in out
    assert "kept" not in out, "a run the base already asks for starts nothing"
    loaded = json.loads(document)
    jsonschema.validate(loaded, json.loads(SCHEMA_PATH.read_text()))
    assert loaded["runs"] == [
        {
            "name": "onboard-payments",
            "file": "runs/payments.yaml",
            "golden_path": "test-team/onboard-team",
            "reason": "new",
            "parameters": {"size": 2, "team": "payments"},
        }
    ]
    assert "#### Golden path runs" in markdown


def test_plan_refuses_a_run_its_golden_path_would_refuse_at_the_files_line(
    tmp_path: Path,
) -> None:
    story = _feature(tmp_path, {}, {"runs/payments.yaml": RUN.format(size=9)})

    code, out = _plan(story)

    assert code == 1, out
    assert (
        "! golden-path-run: runs/payments.yaml:8:3: workflow onboard-team: parameter 'size' "
        "must be at most 5, got 9; fix it in the run's parameters"
    ) in out


def test_plan_against_state_shows_only_what_the_daemon_has_not_started(tmp_path: Path) -> None:
    story = golden_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    story.commit({"runs/payments.yaml": RUN.format(size=2)}, "run it")
    story.innominatus("reconcile", check=True)

    same = story.innominatus("plan", "--repo", str(story.work), "--against-state")
    story.commit({"runs/payments.yaml": RUN.format(size=4)}, "again, bigger")
    changed = story.innominatus("plan", "--repo", str(story.work), "--against-state")

    assert same.returncode == 0, same.stdout + same.stderr
    assert "golden path run" not in same.stdout
    assert changed.returncode == 2, changed.stdout + changed.stderr
    assert "> run onboard-payments (runs/payments.yaml): test-team/onboard-team, file changed" in (
        changed.stdout
    )
