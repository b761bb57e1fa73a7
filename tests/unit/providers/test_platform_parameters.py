"""Parameters only the platform sets (`platform: true`, installation parameters), and params
that would shadow a parameter through the step's PARAM_<NAME> environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import PermanentError
from reconciler.providers.provider import load_provider
from reconciler.providers.workflow import Workflow, apply_parameters, load_workflow

HEAD = "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nparameters:\n"
STEPS = "steps:\n  - {name: run, type: shell, config: {command: [true]}}\n"
ROOT = Path(__file__).resolve().parents[3]


def workflow(tmp_path: Path, parameters: str) -> Workflow:
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + parameters + STEPS)
    return load_workflow(path)


def refusal(workflow: Workflow, values: dict[str, object]) -> str:
    with pytest.raises(PermanentError) as caught:
        apply_parameters(workflow, values)
    return str(caught.value)


def test_a_platform_parameter_takes_its_default_and_refuses_any_resource_value(
    tmp_path: Path,
) -> None:
    declared = workflow(
        tmp_path, "  - {name: hosts_file, type: string, default: '', platform: true}\n"
    )

    assert apply_parameters(declared, {})["hosts_file"] == ""
    assert "parameter 'hosts_file' is set by the platform" in refusal(
        declared, {"hosts_file": "/var/lib/innominatus/secret.key"}
    )
    assert "is set by the platform" in refusal(declared, {"hosts_file": ""}), "even the default"


def test_a_required_platform_parameter_nobody_installed_names_where_to_set_it(
    tmp_path: Path,
) -> None:
    declared = workflow(
        tmp_path, "  - {name: domain, type: string, required: true, platform: true}\n"
    )

    assert refusal(declared, {}) == (
        "workflow w: parameter 'domain' has no value; the platform sets it as an installation "
        "parameter (providers[].parameters)"
    )


@pytest.mark.parametrize("shadow", ["DOMAIN", "Domain", "dOmAiN"])
def test_a_param_differing_from_a_declared_one_only_in_case_is_refused(
    tmp_path: Path, shadow: str
) -> None:
    declared = workflow(tmp_path, "  - {name: domain, type: string, default: a.test}\n")

    assert (
        f"param '{shadow}' differs from the declared parameter 'domain' only in case; use 'domain'"
    ) in refusal(declared, {shadow: "evil.test"})


def test_two_undeclared_params_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    declared = workflow(tmp_path, "  - {name: size, type: string, default: s}\n")

    assert "params 'extra' and 'EXTRA' differ only in case; steps see both as PARAM_EXTRA" in (
        refusal(declared, {"extra": "1", "EXTRA": "2"})
    )


@pytest.mark.parametrize(
    ("provider", "parameter", "value"),
    [
        ("dns", "hosts_file", "/etc/passwd"),
        ("dns", "domain", "evil.example"),
        ("dns", "address", "10.0.0.1"),
        ("postgres", "admin_dsn_env", "OTHER_SERVER_DSN"),
        ("postgres", "host", "attacker.example"),
        ("postgres", "name_prefix", "victim_"),
        ("environment", "values", {"REGION": "x"}),
        ("workload", "gitops_url", "/tmp/elsewhere"),
        ("workload", "allow_secrets", True),
    ],
)
def test_no_resource_can_set_what_the_builtin_providers_leave_to_the_platform(
    provider: str, parameter: str, value: object
) -> None:
    installed = {
        "dns": {"domain": "apps.example.com"},
        "workload": {"gitops_url": "/srv/gitops"},
    }.get(provider, {})
    loaded = load_provider(ROOT / "providers" / provider, parameters=installed)
    create = loaded.workflows[next(iter(loaded.workflows))]

    assert f"parameter '{parameter}' is set by the platform" in refusal(create, {parameter: value})
