"""Installation parameters: values the platform team fixes for a provider's workflow parameters
(``providers[].parameters`` / ``load_provider(parameters=...)``). They replace the workflows'
defaults, are coerced to the declared type, cannot be overridden by a resource, refuse the
provider when undeclared or mistyped, and are part of the provider's digest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import PermanentError
from reconciler.providers import (
    InvalidInputError,
    Parameter,
    ProviderSetError,
    Workflow,
    apply_parameters,
    load_provider,
    load_provider_set,
)
from reconciler.settings import ProviderSourceSettings, load_settings
from tests.unit.providers.conftest import MakeProvider

MANIFEST = """\
apiVersion: v1
kind: Provider
metadata:
  name: site
  version: 1.0.0
capabilities:
  resourceTypeCapabilities:
    - type: site
      operations:
        create: {workflow: create-site}
        delete: {workflow: delete-site}
workflows:
  - {name: create-site, file: ./workflows/create-site.yaml, operation: create}
  - {name: delete-site, file: ./workflows/delete-site.yaml, operation: delete}
"""

CREATE = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: create-site
parameters:
  - {name: domain, type: string, required: true}
  - {name: replicas, type: number, default: 1}
  - {name: debug, type: boolean, default: false}
  - {name: labels, type: map, default: {}}
  - {name: api_token, type: string, default: ""}
steps:
  - name: run
    type: shell
    config:
      script: echo create
"""

DELETE = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata:
  name: delete-site
parameters:
  - {name: domain, type: string, required: true}
steps:
  - name: run
    type: shell
    config:
      script: echo delete
"""

DECLARED = "api_token, debug, domain, labels, replicas"


@pytest.fixture
def site(make_provider: MakeProvider) -> Path:
    return make_provider(MANIFEST, {"create-site": CREATE, "delete-site": DELETE}, folder="site")


def parameters_of(workflow: Workflow) -> dict[str, Parameter]:
    return {parameter.name: parameter for parameter in workflow.parameters}


def refusal(workflow: Workflow, params: dict[str, Any]) -> str:
    with pytest.raises(PermanentError) as caught:
        apply_parameters(workflow, params)
    return str(caught.value)


def problems_of(path: Path, parameters: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        load_provider(path, parameters=parameters)
    return [problem.message for problem in caught.value.problems]


def says_set_by_the_platform(message: str, workflow: str, name: str) -> bool:
    """The refusal names the workflow and the parameter, says the platform sets it, and says to
    remove it from the resource's params (the wording between may change)."""
    return message.startswith(
        f"workflow {workflow}: parameter '{name}' is set by the platform"
    ) and message.endswith("; remove it from the resource's params")


def test_installed_values_replace_the_defaults_of_every_workflow_declaring_them(
    site: Path,
) -> None:
    provider = load_provider(site, parameters={"domain": "apps.example.test", "replicas": 3})

    create = parameters_of(provider.workflows["create-site"])
    delete = parameters_of(provider.workflows["delete-site"])
    assert (create["domain"].default, create["domain"].fixed) == ("apps.example.test", True)
    assert (delete["domain"].default, delete["domain"].fixed) == ("apps.example.test", True)
    assert (create["replicas"].default, create["replicas"].fixed) == (3, True)
    assert (create["debug"].default, create["debug"].fixed) == (False, False)
    bound = apply_parameters(provider.workflows["create-site"], {})
    assert bound == {
        "domain": "apps.example.test",
        "replicas": 3,
        "debug": False,
        "labels": {},
        "api_token": "",
    }
    assert apply_parameters(provider.workflows["delete-site"], {}) == {
        "domain": "apps.example.test"
    }


def test_without_installation_parameters_the_workflow_defaults_and_required_checks_stay(
    site: Path,
) -> None:
    provider = load_provider(site)

    create = provider.workflows["create-site"]
    assert not any(parameter.fixed for parameter in create.parameters)
    assert "parameter 'domain'" in refusal(create, {})
    assert apply_parameters(create, {"domain": "mine.test"})["domain"] == "mine.test"


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("replicas", "3", 3),
        ("replicas", "2.5", 2.5),
        ("debug", "true", True),
        ("debug", "FALSE", False),
        ("domain", 8080, "8080"),
        ("domain", True, "true"),
        ("labels", {"team": "a"}, {"team": "a"}),
    ],
)
def test_installed_values_are_coerced_to_the_declared_type(
    site: Path, name: str, given: Any, expected: Any
) -> None:
    parameters = {"domain": "apps.example.test", name: given}

    provider = load_provider(site, parameters=parameters)

    installed = parameters_of(provider.workflows["create-site"])[name]
    assert installed.default == expected
    assert type(installed.default) is type(expected)
    assert apply_parameters(provider.workflows["create-site"], {})[name] == expected


def test_a_parameter_that_is_not_installed_can_still_be_given_by_a_resource(site: Path) -> None:
    provider = load_provider(site, parameters={"domain": "apps.example.test"})

    bound = apply_parameters(provider.workflows["create-site"], {"replicas": "4", "debug": True})

    assert (bound["replicas"], bound["debug"]) == (4, True)


@pytest.mark.parametrize(
    ("name", "given"),
    [("domain", "evil.example.test"), ("replicas", 4), ("replicas", "four"), ("debug", True)],
)
def test_a_resource_giving_another_value_is_refused_naming_the_parameter(
    site: Path, name: str, given: Any
) -> None:
    installed = {"domain": "apps.example.test", "replicas": 3, "debug": False}
    provider = load_provider(site, parameters=installed)

    message = refusal(provider.workflows["create-site"], {name: given})

    assert "\n" not in message
    assert says_set_by_the_platform(message, "create-site", name), message


def test_every_overridden_installation_parameter_is_listed(site: Path) -> None:
    provider = load_provider(site, parameters={"domain": "apps.example.test", "replicas": 3})

    message = refusal(provider.workflows["create-site"], {"domain": "x.test", "replicas": 9})

    domain, replicas = message.splitlines()
    assert says_set_by_the_platform(domain, "create-site", "domain"), message
    assert says_set_by_the_platform(replicas, "create-site", "replicas"), message


@pytest.mark.parametrize(
    ("name", "given"),
    [("domain", "apps.example.test"), ("replicas", 3), ("replicas", "3"), ("debug", "false")],
)
def test_a_resource_giving_the_installed_value_is_accepted(
    site: Path, name: str, given: Any
) -> None:
    installed = {"domain": "apps.example.test", "replicas": 3, "debug": False}
    provider = load_provider(site, parameters=installed)

    bound = apply_parameters(provider.workflows["create-site"], {name: given})

    assert bound[name] == installed[name]
    assert type(bound[name]) is type(installed[name])


def test_a_null_value_in_the_resource_counts_as_absent(site: Path) -> None:
    provider = load_provider(site, parameters={"domain": "apps.example.test"})

    bound = apply_parameters(provider.workflows["create-site"], {"domain": None})

    assert bound["domain"] == "apps.example.test"


def test_an_installed_mapping_is_copied_so_one_execution_cannot_change_another(
    site: Path,
) -> None:
    provider = load_provider(
        site, parameters={"domain": "apps.example.test", "labels": {"team": "a"}}
    )
    workflow = provider.workflows["create-site"]

    first = apply_parameters(workflow, {})
    first["labels"]["team"] = "b"

    assert apply_parameters(workflow, {})["labels"] == {"team": "a"}


def test_a_parameter_no_workflow_declares_refuses_the_provider_naming_the_declared_ones(
    site: Path,
) -> None:
    problems = problems_of(site, {"domain": "apps.example.test", "domian": "typo.test"})

    assert problems == [
        f"{site}/provider.yaml:1:1: the configuration installs provider site with parameter "
        f"'domian', which none of its workflows declares (declared: {DECLARED}); remove it "
        "from providers[].parameters or fix its name"
    ]


def test_every_undeclared_installation_parameter_is_reported(site: Path) -> None:
    problems = problems_of(site, {"zone": "a", "address": "b"})

    assert [problem.split("parameter ")[1].split(",")[0] for problem in problems] == [
        "'address'",
        "'zone'",
    ]


def test_a_value_of_the_wrong_type_refuses_the_provider_at_its_file_and_line(
    site: Path,
) -> None:
    problems = problems_of(site, {"domain": "apps.example.test", "replicas": "many"})

    assert problems == [
        f"{site}/provider.yaml:1:1: provider site, workflow create-site: installation "
        "parameter 'replicas' must be a number, got 'many'; fix providers[].parameters in the "
        "configuration"
    ]


def test_a_wrong_type_is_reported_once_however_many_workflows_declare_it(site: Path) -> None:
    problems = problems_of(site, {"domain": ["a", "b"]})

    assert len(problems) == 1
    assert "workflow create-site: installation parameter 'domain' must be a string" in problems[0]


def test_a_wrong_value_of_a_secret_looking_parameter_is_not_shown(site: Path) -> None:
    problems = problems_of(site, {"api_token": {"value": "tok-canary-123"}})

    assert len(problems) == 1
    assert "installation parameter 'api_token' must be a string" in problems[0]
    assert "tok-canary-123" not in problems[0]
    assert "kept hidden" in problems[0]


def test_installation_parameters_change_the_digest(site: Path) -> None:
    bare = load_provider(site).digest
    installed = load_provider(site, parameters={"domain": "a.test"}).digest
    again = load_provider(site, parameters={"domain": "a.test"}).digest
    other = load_provider(site, parameters={"domain": "b.test"}).digest

    assert len({bare, installed, other}) == 3
    assert installed == again


def test_installation_parameters_change_the_fingerprint_of_the_provider_set(site: Path) -> None:
    def fingerprint(parameters: dict[str, Any]) -> str:
        source = ProviderSourceSettings(name="site", path=site, parameters=parameters)
        return load_provider_set([source]).fingerprint()

    assert fingerprint({"domain": "a.test"}) == fingerprint({"domain": "a.test"})
    assert fingerprint({"domain": "a.test"}) != fingerprint({"domain": "b.test"})
    assert fingerprint({"domain": "a.test"}) != fingerprint({})


def test_load_provider_set_passes_the_source_parameters_through(site: Path) -> None:
    source = ProviderSourceSettings(
        name="site", path=site, parameters={"domain": "apps.example.test", "replicas": "2"}
    )

    provider = load_provider_set([source]).providers["site"]

    installed = parameters_of(provider.workflows["create-site"])
    assert (installed["domain"].default, installed["domain"].fixed) == ("apps.example.test", True)
    assert (installed["replicas"].default, installed["replicas"].fixed) == (2, True)
    assert provider.digest == load_provider(site, parameters=source.parameters).digest


def test_load_provider_set_refuses_the_set_for_an_undeclared_installation_parameter(
    site: Path,
) -> None:
    source = ProviderSourceSettings(name="site", path=site, parameters={"zone": "eu"})

    with pytest.raises(ProviderSetError) as caught:
        load_provider_set([source])

    assert len(caught.value.problems) == 1
    assert "installs provider site with parameter 'zone'" in caught.value.problems[0]


def test_the_configuration_file_carries_installation_parameters(site: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "providers:\n"
        "  - name: site\n"
        f"    path: {site}\n"
        "    parameters: {domain: apps.example.test, replicas: 2, labels: {team: a}}\n"
    )

    settings = load_settings(config, environ={})

    assert settings.providers[0].parameters == {
        "domain": "apps.example.test",
        "replicas": 2,
        "labels": {"team": "a"},
    }
    provider = load_provider_set(settings.providers).providers["site"]
    assert apply_parameters(provider.workflows["create-site"], {})["labels"] == {"team": "a"}
