"""provider.yaml validation: each problem is refused with a golden ``file:line:col`` message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.providers import (
    InvalidInputError,
    ProviderSet,
    ProviderSetError,
    load_provider,
    load_provider_set,
)
from reconciler.settings import ProviderSourceSettings

MakeProvider = Callable[..., Path]

MANIFEST = """\
apiVersion: v1
kind: Provider
metadata:
  name: NAME
  version: 1.0.0
capabilities:
  resourceTypeCapabilities:
    - type: postgres
      operations:
        create:
          workflow: provision-postgres
        delete:
          workflow: delete-postgres
    - type: postgresql
      aliasFor: postgres
workflows:
  - name: provision-postgres
    file: ./workflows/provision-postgres.yaml
    operation: create
  - name: delete-postgres
    file: ./workflows/delete-postgres.yaml
    operation: delete
"""
BOTH = {"provision-postgres": None, "delete-postgres": None}


def manifest(name: str = "p", *, replace: tuple[str, str] = ("", ""), extra: str = "") -> str:
    text = MANIFEST.replace("NAME", name)
    if replace[0]:
        assert replace[0] in text
        text = text.replace(replace[0], replace[1])
    return text + extra


def problems_of(path: Path, *, name: str | None = None) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        load_provider(path, name=name)
    return [problem.message for problem in caught.value.problems]


def test_a_valid_small_provider_loads(make_provider: MakeProvider) -> None:
    provider = load_provider(make_provider(manifest(), BOTH))

    assert provider.aliases == {"postgresql": "postgres"}
    assert sorted(provider.types["postgres"]) == ["create", "delete"]


def test_missing_workflow_file_is_refused_at_its_file_key(make_provider: MakeProvider) -> None:
    root = make_provider(manifest(), {"provision-postgres": None})

    assert problems_of(root) == [
        f"{root}/provider.yaml:21:5: workflow 'delete-postgres': file "
        f"./workflows/delete-postgres.yaml not found (looked for "
        f"{root.resolve()}/workflows/delete-postgres.yaml); fix the path or add the file"
    ]


def test_unknown_workflow_reference_is_refused_listing_declared_workflows(
    make_provider: MakeProvider,
) -> None:
    root = make_provider(
        manifest(replace=("workflow: delete-postgres", "workflow: drop-postgres")), BOTH
    )

    assert problems_of(root) == [
        f"{root}/provider.yaml:13:11: operations.delete of type 'postgres' references workflow "
        "'drop-postgres', which workflows[] does not declare; declare it or use one of: "
        "provision-postgres, delete-postgres"
    ]


def test_alias_to_an_undeclared_type_is_refused(make_provider: MakeProvider) -> None:
    root = make_provider(manifest(replace=("aliasFor: postgres", "aliasFor: postgre")), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:15:7: alias 'postgresql' points to type 'postgre', which this "
        "provider does not declare; declare that type or fix aliasFor"
    ]


def test_alias_cycle_is_refused_once_naming_the_loop(make_provider: MakeProvider) -> None:
    cycle = """\
    - type: pg
      aliasFor: pgsql
    - type: pgsql
      aliasFor: pg
workflows:"""
    root = make_provider(manifest(replace=("workflows:", cycle)), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:17:7: alias cycle pg -> pgsql -> pg; point one of them at a type "
        "that declares operations"
    ]


def test_alias_to_itself_is_a_cycle(make_provider: MakeProvider) -> None:
    root = make_provider(manifest(replace=("aliasFor: postgres", "aliasFor: postgresql")), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:15:7: alias cycle postgresql -> postgresql; point one of them at "
        "a type that declares operations"
    ]


def test_duplicate_workflow_name_is_refused_pointing_at_the_first(
    make_provider: MakeProvider,
) -> None:
    duplicate = """\
  - name: delete-postgres
    file: ./workflows/provision-postgres.yaml
"""
    root = make_provider(manifest(extra=duplicate), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:23:5: workflow 'delete-postgres' is declared twice (first at "
        "line 20); rename or remove one"
    ]


def test_unknown_operation_key_is_refused_naming_the_known_ones(
    make_provider: MakeProvider,
) -> None:
    root = make_provider(manifest(replace=("        delete:", "        deploy:")), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:12:9: capabilities.resourceTypeCapabilities[0].operations: unknown "
        "operation 'deploy'; use create, read, update or delete"
    ]


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("1.0", "1.0 is not a SemVer version"),
        ('"v1.0.0"', "'v1.0.0' is not a SemVer version (without the 'v')"),
        ('"1.0.0.0"', "'1.0.0.0' is not a SemVer version"),
        ('"01.0.0"', "'01.0.0' is not a SemVer version (no leading zeros)"),
        ('"1.02.0"', "'1.02.0' is not a SemVer version (no leading zeros)"),
        ('"1.0.0-01"', "'1.0.0-01' is not a SemVer version (no leading zeros)"),
    ],
)
def test_version_that_is_not_semver_is_refused(
    make_provider: MakeProvider, written: str, shown: str
) -> None:
    root = make_provider(manifest(replace=("version: 1.0.0", f"version: {written}")), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:5:3: metadata.version: {shown}; write "
        "MAJOR.MINOR.PATCH such as 1.0.0"
    ]


def test_semver_with_prerelease_and_build_is_accepted(make_provider: MakeProvider) -> None:
    root = make_provider(manifest(replace=("version: 1.0.0", "version: 2.1.0-rc.1+build.7")), BOTH)

    assert load_provider(root).version == "2.1.0-rc.1+build.7"


def test_duplicate_type_is_refused_pointing_at_the_first(make_provider: MakeProvider) -> None:
    duplicate = """\
    - type: postgres
      operations:
        create:
          workflow: provision-postgres
workflows:"""
    root = make_provider(manifest(replace=("workflows:", duplicate)), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:16:7: type 'postgres' is declared twice (first at line 8); merge "
        "the entries"
    ]


def test_alias_named_like_a_type_of_the_same_provider_is_a_duplicate(
    make_provider: MakeProvider,
) -> None:
    root = make_provider(manifest(replace=("type: postgresql", "type: postgres")), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:14:7: type 'postgres' is declared twice (first at line 8); merge "
        "the entries"
    ]


def test_workflow_used_for_another_operation_than_it_declares_is_refused(
    make_provider: MakeProvider,
) -> None:
    root = make_provider(
        manifest(replace=("workflow: delete-postgres", "workflow: provision-postgres")), BOTH
    )

    assert problems_of(root) == [
        f"{root}/provider.yaml:13:11: type 'postgres' runs workflow 'provision-postgres' for "
        "delete, but workflows[] declares it for create; fix one of them, or drop operation: "
        "from the workflow entry if it serves several operations"
    ]


def test_legacy_resource_types_must_only_repeat_declared_types(
    make_provider: MakeProvider,
) -> None:
    legacy = """\
  resourceTypes: [postgres, postgresql, mysql]
workflows:"""
    root = make_provider(manifest(replace=("workflows:", legacy)), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:16:41: resourceTypes lists 'mysql', which "
        "resourceTypeCapabilities does not declare; declare it there too (resourceTypes is only "
        "the legacy copy)"
    ]


def test_type_without_operations_or_alias_is_refused(make_provider: MakeProvider) -> None:
    bare = """\
    - type: redis
workflows:"""
    root = make_provider(manifest(replace=("workflows:", bare)), BOTH)

    assert problems_of(root) == [
        f"{root}/provider.yaml:16:7: type 'redis' declares no operations; add operations.create "
        "(and update, delete) or make it an alias with aliasFor"
    ]


def test_tagged_default_must_be_one_of_the_tagged_workflows(make_provider: MakeProvider) -> None:
    tagged = """\
        create:
          workflows:
            - name: provision-postgres
              tags: [prod]
          default: delete-postgres"""
    root = make_provider(
        manifest(replace=("        create:\n          workflow: provision-postgres", tagged)), BOTH
    )

    assert problems_of(root) == [
        f"{root}/provider.yaml:14:11: default 'delete-postgres' of operations.create of type "
        "'postgres' is not one of its workflows (provision-postgres); name one of them"
    ]


def test_workflow_file_outside_the_provider_folder_is_refused(
    make_provider: MakeProvider,
) -> None:
    root = make_provider(
        manifest(replace=("./workflows/delete-postgres.yaml", "../../etc/passwd")), BOTH
    )

    assert problems_of(root) == [
        f"{root}/provider.yaml:21:5: workflow 'delete-postgres': file ../../etc/passwd is outside "
        f"the provider folder {root.resolve()}; keep workflow files inside it"
    ]


def test_workflow_file_whose_metadata_name_differs_is_refused(
    make_provider: MakeProvider,
) -> None:
    root = make_provider(
        manifest(replace=("./workflows/delete-postgres.yaml", "./workflows/other.yaml")),
        {**BOTH, "other": None},
    )

    assert problems_of(root) == [
        f"{root}/provider.yaml:20:5: workflow 'delete-postgres' points to ./workflows/other.yaml, "
        "whose metadata.name is 'other'; make the two names equal"
    ]


def test_configured_name_must_equal_metadata_name(make_provider: MakeProvider) -> None:
    root = make_provider(manifest(), BOTH)

    assert problems_of(root, name="db") == [
        f"{root}/provider.yaml:4:3: provider.yaml names the provider 'p', but the configuration "
        "calls it 'db'; use the same name in both"
    ]


def test_every_problem_of_a_provider_is_reported_at_once(make_provider: MakeProvider) -> None:
    root = make_provider(
        manifest(replace=("aliasFor: postgres", "aliasFor: nowhere")), {"provision-postgres": None}
    )

    problems = problems_of(root, name="other")

    assert [message.split(": ", 1)[0] for message in problems] == [
        f"{root}/provider.yaml:4:3",
        f"{root}/provider.yaml:21:5",
        f"{root}/provider.yaml:15:7",
    ]


def test_structural_problems_are_all_listed_with_their_keys(make_provider: MakeProvider) -> None:
    root = make_provider(
        """\
        apiVersion: v2
        kind: Provider
        metadata:
          version: 1.0.0
          name: P Q
        workflows:
          - name: x
            file: 12
            colour: blue
        """
    )

    assert problems_of(root) == [
        f"{root}/provider.yaml:1:1: apiVersion: must be 'v1', 'innominatus.io/v1' or "
        "'innominatus.io/v1alpha1', got 'v2'",
        f"{root}/provider.yaml:5:3: metadata.name: 'P Q' is not a valid provider name; use "
        "lower-case letters, digits, '-' and '_' (at most 63)",
        f"{root}/provider.yaml:8:5: workflows[0].file: expected a string, got 12",
        f"{root}/provider.yaml:9:5: workflows[0]: unknown key 'colour'; remove it or fix its "
        "spelling",
    ]


def test_missing_required_keys_are_named(make_provider: MakeProvider) -> None:
    root = make_provider("kind: Platform\nmetadata: {name: p}\n")

    assert problems_of(root) == [
        f"{root}/provider.yaml:1:1: apiVersion is required; add it",
        f"{root}/provider.yaml:2:1: metadata.version is required; add it",
    ]


def test_broken_yaml_is_refused_with_its_position(make_provider: MakeProvider) -> None:
    root = make_provider("apiVersion: v1\nkind: [Provider\n")

    (message,) = problems_of(root)
    assert message.startswith(f"{root}/provider.yaml:3:1: invalid YAML: ")


def test_missing_provider_folder_is_refused_naming_the_manifest(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nowhere") == [
        f"{tmp_path}/nowhere/provider.yaml: provider manifest {tmp_path}/nowhere/provider.yaml "
        "not found; create it or fix the path"
    ]


def test_legacy_platform_provisioners_are_refused_with_the_replacement(
    make_provider: MakeProvider,
) -> None:
    root = make_provider(
        """\
        apiVersion: innominatus.io/v1
        kind: Platform
        metadata: {name: builtin, version: 1.0.0}
        provisioners:
          - {name: gitea-repo, type: gitea-repo, version: 1.0.0}
        """
    )

    assert problems_of(root) == [
        f"{root}/provider.yaml:4:1: legacy provisioners: name programs built into the Go "
        "original, which innominatus does not have; run `innominatus providers migrate` on this "
        "folder and write workflows for them"
    ]


def test_manifest_file_path_may_be_given_instead_of_the_folder(
    make_provider: MakeProvider,
) -> None:
    root = make_provider(manifest(), BOTH)

    assert load_provider(root / "provider.yaml").path == root


# The provider set ----------------------------------------------------------------------------


def source(root: Path, *, enabled: bool = True) -> ProviderSourceSettings:
    return ProviderSourceSettings(name=root.name, path=root, enabled=enabled)


def test_two_providers_claiming_one_type_refuse_the_set_naming_both(
    make_provider: MakeProvider,
) -> None:
    a = make_provider(manifest("a"), BOTH, folder="a")
    b = make_provider(manifest("b", replace=("type: postgresql", "type: pg")), BOTH, folder="b")

    with pytest.raises(ProviderSetError) as caught:
        load_provider_set([source(a), source(b)])

    assert caught.value.problems == [
        f"{b}/provider.yaml:8:7: resource type 'postgres' is claimed by two providers, a (type, "
        f"{a}/provider.yaml:8:7) and b (type); remove it from one of them or disable one provider"
    ]
    assert str(caught.value).startswith("provider set refused, 1 problem; fix and reload:\n  - ")


def test_a_type_of_one_provider_equal_to_an_alias_of_another_is_a_conflict(
    make_provider: MakeProvider,
) -> None:
    a = make_provider(manifest("a"), BOTH, folder="a")
    b_manifest = (
        manifest("b")
        .replace(
            "type: postgresql\n      aliasFor: postgres", "type: pg\n      aliasFor: postgresql"
        )
        .replace("type: postgres\n", "type: postgresql\n")
    )
    b = make_provider(b_manifest, BOTH, folder="b")

    with pytest.raises(ProviderSetError) as caught:
        load_provider_set([source(a), source(b)])

    assert caught.value.problems == [
        f"{b}/provider.yaml:8:7: resource type 'postgresql' is claimed by two providers, a (alias "
        f"for postgres, {a}/provider.yaml:14:7) and b (type); remove it from one of them or "
        "disable one provider"
    ]


def test_set_lists_every_problem_of_every_provider(make_provider: MakeProvider) -> None:
    a = make_provider(manifest("a", replace=("1.0.0", "one")), BOTH, folder="a")
    b = make_provider(manifest("b"), {"provision-postgres": None}, folder="b")
    c = make_provider(manifest("c"), BOTH, folder="c")
    d = make_provider(manifest("d"), BOTH, folder="d")

    with pytest.raises(ProviderSetError) as caught:
        load_provider_set([source(a), source(b), source(c), source(d)])

    assert [problem.split(": ", 1)[0] for problem in caught.value.problems] == [
        f"{a}/provider.yaml:5:3",
        f"{b}/provider.yaml:21:5",
        f"{d}/provider.yaml:8:7",
        f"{d}/provider.yaml:14:7",
    ]


def test_disabled_sources_are_not_loaded(make_provider: MakeProvider, tmp_path: Path) -> None:
    a = make_provider(manifest("a"), BOTH, folder="a")
    broken = tmp_path / "broken"

    provider_set = load_provider_set([source(a), source(broken, enabled=False)])

    assert list(provider_set.providers) == ["a"]


def test_a_source_configured_twice_is_refused(make_provider: MakeProvider) -> None:
    a = make_provider(manifest("a"), BOTH, folder="a")

    with pytest.raises(ProviderSetError) as caught:
        load_provider_set([source(a), source(a)])

    assert caught.value.problems == ["provider source 'a' is configured twice; remove one"]


def test_an_empty_set_loads_and_claims_nothing() -> None:
    provider_set = load_provider_set([])

    assert provider_set.providers == {}
    assert provider_set.claims("postgres") is None


def test_building_a_set_directly_also_refuses_conflicts(make_provider: MakeProvider) -> None:
    a = load_provider(make_provider(manifest("a"), BOTH, folder="a"))
    b = load_provider(make_provider(manifest("b"), BOTH, folder="b"))

    with pytest.raises(ProviderSetError) as caught:
        ProviderSet(providers={"a": a, "b": b})

    assert len(caught.value.problems) == 2
