"""Hostile run parameters are refused at the run file's line before anything starts: a value
that only looks like the declared type (``true`` or ``.nan`` for a number), a name the engine
sets for every run (``operation``, ``resource_uid``, ``app_name``), Ansible's connection
settings (``ansible_*``), a name differing from a declared one only in case; and a YAML
value a digest cannot be computed from never breaks reading the file."""

from __future__ import annotations

import pytest

from reconciler.errors import InputError
from reconciler.plan.goldenruns import RunRequest, check_run, parse_run
from reconciler.providers.registry import ProviderSet
from tests.unit.plan.test_golden_path_runs import providers  # noqa: F401  (fixture)


def run(parameters: str) -> RunRequest:
    text = f"kind: GoldenPathRun\nmetadata: {{name: a}}\npath: onboard\nparameters: {parameters}\n"
    parsed = parse_run("runs/a.yaml", text.encode())
    assert isinstance(parsed, RunRequest), parsed
    return parsed


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ("{team: a, size: true}", "must be an integer"),
        ("{team: a, size: .nan}", "must be an integer"),
        ("{team: a, size: .inf}", "must be an integer"),
        ("{team: a, operation: delete}", "set by innominatus for every run"),
        ("{team: a, resource_uid: x}", "set by innominatus for every run"),
        ("{team: a, app_name: other-team}", "set by innominatus for every run"),
        ("{team: a, ansible_connection: local}", "Ansible's connection settings"),
        ("{team: a, Team: b}", "only in case"),
        ("{team: 'a;rm -rf /'}", "must match"),
    ],
)
def test_a_hostile_parameter_is_refused_at_the_files_line(
    providers: ProviderSet,  # noqa: F811
    parameters: str,
    problem: str,
) -> None:
    with pytest.raises(InputError) as refused:
        check_run(run(parameters), providers, repository="apps")
    assert problem in refused.value.message
    assert refused.value.message.startswith("runs/a.yaml:4:")


@pytest.mark.parametrize(
    "parameters",
    ["{when: 2024-01-01}", "{b: !!binary aGVsbG8=}", "{s: !!set {a, b}}", "{n: .nan, i: -.inf}"],
)
def test_any_yaml_value_gives_a_digest(parameters: str) -> None:
    assert len(run(parameters).digest) == 64
