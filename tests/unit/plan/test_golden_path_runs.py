"""GoldenPathRun files: read with every problem at its line, indexed by run name (two files
asking under one name run neither), checked against the golden path's typed parameters before
anything could start; a run's digest changes with what it asks for, not with its layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.plan.goldenruns import (
    RunRequest,
    check_run,
    find_golden_path,
    index_runs,
    parse_run,
)
from reconciler.providers.provider import load_provider
from reconciler.providers.registry import ProviderSet

WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: onboard}
parameters:
  - {name: team, type: string, required: true, pattern: "[a-z]+"}
  - {name: size, type: integer, default: 1, min: 1, max: 5}
  - {name: tier, type: string, default: bronze, allowed_values: [bronze, gold]}
steps:
  - {name: run, type: shell, config: {command: ["true"]}}
"""
RUN = """\
apiVersion: innominatus.io/v1
kind: GoldenPathRun
metadata:
  name: payments
path: onboard
parameters:
  team: payments
  size: 2
"""


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> ProviderSet:
    folder: Path = tmp_path_factory.mktemp("provider")
    (folder / "workflows").mkdir()
    (folder / "workflows" / "onboard.yaml").write_text(WORKFLOW)
    (folder / "provider.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Provider",
                "metadata": {"name": "platform", "version": "1.0.0"},
                "compatibility": {"minCoreVersion": "0.1.0", "maxCoreVersion": "9.0.0"},
                "capabilities": {"resourceTypes": []},
                "workflows": [
                    {
                        "name": "onboard",
                        "file": "./workflows/onboard.yaml",
                        "category": "goldenpath",
                    }
                ],
            }
        )
    )
    return ProviderSet({"platform": load_provider(folder)})


def request(text: str = RUN, path: str = "runs/payments.yaml") -> RunRequest:
    parsed = parse_run(path, text.encode())
    assert isinstance(parsed, RunRequest), parsed
    return parsed


def test_a_run_file_is_read_with_its_name_golden_path_and_parameters() -> None:
    run = request()
    assert (run.name, run.golden_path, dict(run.parameters)) == (
        "payments",
        "onboard",
        {"team": "payments", "size": 2},
    )
    assert str(run.location) == "runs/payments.yaml:4:3"
    assert str(run.parameter_lines["size"]) == "runs/payments.yaml:8:3"


def test_the_digest_follows_what_is_asked_not_the_files_layout() -> None:
    reordered = RUN.replace(
        "  team: payments\n  size: 2\n", "  size: 2  # more\n  team: payments\n"
    )
    assert request(reordered).digest == request().digest
    assert request(RUN.replace("size: 2", "size: 3")).digest != request().digest


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (RUN.replace("kind: GoldenPathRun", "kind: Run"), "runs/payments.yaml:2"),
        (RUN.replace("name: payments", "name: Pay_ments"), "not a valid run name"),
        (RUN.replace("path: onboard\n", ""), "path"),
        (RUN + "extra: 1\n", "unknown key 'extra'"),
        ("- a\n- b\n", "must be a mapping"),
        ("kind: GoldenPathRun\nmetadata: {name: x}\npath: [1]\n", "runs/payments.yaml:3"),
    ],
)
def test_a_broken_run_file_is_one_problem_at_its_line(text: str, problem: str) -> None:
    parsed = parse_run("runs/payments.yaml", text.encode())
    assert isinstance(parsed, InputError)
    assert parsed.message.startswith("runs/payments.yaml:")
    assert problem in parsed.message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_reading_any_bytes_gives_a_request_or_a_located_problem_never_an_exception(
    content: bytes,
) -> None:
    parsed = parse_run("runs/x.yaml", content)
    assert isinstance(parsed, RunRequest | InputError)
    if isinstance(parsed, InputError):
        assert parsed.message.startswith("runs/x.yaml")


def test_two_files_asking_under_one_name_run_neither_and_both_are_named() -> None:
    runs, problems = index_runs(
        {"a.run.yaml": request(path="a.run.yaml"), "b.run.yaml": request(path="b.run.yaml")}
    )
    assert runs == {}
    assert set(problems) == {"a.run.yaml", "b.run.yaml"}
    assert (
        "requested more than once (a.run.yaml:4:3, b.run.yaml:4:3); rename one"
        in problems["a.run.yaml"]
    )


def test_a_checked_run_has_its_parameters_typed_defaulted_and_the_engines_built_ins(
    providers: ProviderSet,
) -> None:
    checked = check_run(request(), providers, repository="apps")
    assert checked.workflow.name == "onboard"
    assert checked.provider.name == "platform"
    bound = dict(checked.parameters)
    assert (bound["team"], bound["size"], bound["tier"]) == ("payments", 2, "bronze")
    assert (bound["operation"], bound["app_name"]) == ("goldenpath", "payments")
    assert bound["resource_uid"] == "goldenpath#apps/payments"


@pytest.mark.parametrize(
    ("change", "problem", "line"),
    [
        (("size: 2", "size: 9"), "parameter 'size' must be at most 5", 8),
        (("size: 2", "size: 2.5"), "parameter 'size' must be an integer", 8),
        (("team: payments", "team: Payments"), "parameter 'team' must match '[a-z]+'", 7),
        (("  team: payments\n", ""), "required parameter 'team' is missing", 4),
        (("size: 2", "size: 2\n  tier: silver"), "'tier' must be one of bronze, gold", 9),
        (("size: 2", "size: 2\n  operation: x"), "set by innominatus for every run", 9),
        (("path: onboard", "path: other/onboard"), "no loaded provider offers", 4),
    ],
)
def test_a_run_the_golden_path_refuses_is_an_error_at_the_parameters_line(
    providers: ProviderSet, change: tuple[str, str], problem: str, line: int
) -> None:
    with pytest.raises(InputError) as caught:
        check_run(request(RUN.replace(*change)), providers, repository="apps")
    assert problem in caught.value.message
    assert caught.value.location.line == line
    assert "the run's parameters" in caught.value.message or "golden path" in caught.value.message


def test_an_undeclared_parameter_is_dropped_and_named(providers: ProviderSet) -> None:
    checked = check_run(
        request(RUN.replace("size: 2", "size: 2\n  colour: red")), providers, repository="apps"
    )
    assert checked.unknown == ("colour",)
    assert "colour" not in checked.parameters


def test_a_golden_path_is_found_by_name_or_provider_and_name(providers: ProviderSet) -> None:
    assert find_golden_path(providers, "onboard")[1].name == "onboard"
    assert find_golden_path(providers, "platform/onboard")[0].name == "platform"
