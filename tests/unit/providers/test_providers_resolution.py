"""Resolution: resource type (through aliases) -> provider -> operation -> workflow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from reconciler.errors import PermanentError
from reconciler.providers import (
    ProviderSet,
    ResolutionError,
    load_provider_set,
)
from reconciler.settings import ProviderSourceSettings

MakeProvider = Callable[..., Path]

ADVANCED = """\
apiVersion: v1
kind: Provider
metadata: {name: database-team, version: 1.2.0}
capabilities:
  resourceTypeCapabilities:
    - type: postgres
      operations:
        create:
          workflows:
            - {name: provision-postgres, tags: [prod, zalando]}
            - {name: provision-postgres-mock, tags: [mock, test]}
            - {name: provision-postgres-small, tags: [test]}
          default: provision-postgres
        update: {workflow: update-postgres}
        delete:
          workflows:
            - {name: delete-postgres, tags: [prod]}
            - {name: delete-postgres-mock, tags: [mock]}
          default: delete-postgres
    - {type: postgresql, aliasFor: postgres}
    - {type: pg, aliasFor: postgresql}
    - type: queue
      operations:
        create:
          workflows:
            - {name: provision-queue-a, tags: [a]}
            - {name: provision-queue-b, tags: [b]}
workflows:
  - {name: provision-postgres, file: workflows/provision-postgres.yaml, operation: create}
  - {name: provision-postgres-mock, file: workflows/provision-postgres-mock.yaml}
  - {name: provision-postgres-small, file: workflows/provision-postgres-small.yaml}
  - {name: update-postgres, file: workflows/update-postgres.yaml, operation: update}
  - {name: delete-postgres, file: workflows/delete-postgres.yaml, operation: delete}
  - {name: delete-postgres-mock, file: workflows/delete-postgres-mock.yaml, operation: delete}
  - {name: provision-queue-a, file: workflows/provision-queue-a.yaml}
  - {name: provision-queue-b, file: workflows/provision-queue-b.yaml}
"""
ADVANCED_WORKFLOWS = (
    "provision-postgres",
    "provision-postgres-mock",
    "provision-postgres-small",
    "update-postgres",
    "delete-postgres",
    "delete-postgres-mock",
    "provision-queue-a",
    "provision-queue-b",
)

SIMPLE = """\
apiVersion: v1
kind: Provider
metadata: {name: test-team, version: 1.0.0}
capabilities:
  resourceTypes: [test-db, test-database]
workflows:
  - {name: provision-test-db, file: workflows/provision-test-db.yaml, category: provisioner}
  - {name: delete-test-db, file: workflows/delete-test-db.yaml, operation: delete}
  - {name: onboard-team, file: workflows/onboard-team.yaml, category: goldenpath}
"""


@pytest.fixture
def providers(make_provider: MakeProvider) -> ProviderSet:
    advanced = make_provider(ADVANCED, dict.fromkeys(ADVANCED_WORKFLOWS), folder="database-team")
    simple = make_provider(
        SIMPLE,
        dict.fromkeys(("provision-test-db", "delete-test-db", "onboard-team")),
        folder="test-team",
    )
    return load_provider_set(
        [
            ProviderSourceSettings(name="database-team", path=advanced),
            ProviderSourceSettings(name="test-team", path=simple),
        ]
    )


def chosen(
    providers: ProviderSet,
    type_: str,
    operation: str,
    annotations: Mapping[str, object] | None = None,
) -> str:
    resolution = providers.resolve(type_=type_, operation=operation, annotations=annotations or {})
    assert resolution.operation == operation
    assert resolution.workflow.name in resolution.provider.workflows
    return f"{resolution.provider.name}/{resolution.workflow.name}"


def error_of(
    providers: ProviderSet,
    type_: str,
    operation: str,
    annotations: Mapping[str, object] | None = None,
) -> str:
    with pytest.raises(ResolutionError) as caught:
        providers.resolve(type_=type_, operation=operation, annotations=annotations or {})
    return str(caught.value)


def test_simple_format_creates_with_the_unlabelled_provisioner_workflow(
    providers: ProviderSet,
) -> None:
    assert chosen(providers, "test-db", "create") == "test-team/provision-test-db"
    assert chosen(providers, "test-database", "create") == "test-team/provision-test-db"


def test_simple_format_deletes_with_the_workflow_whose_operation_is_delete(
    providers: ProviderSet,
) -> None:
    assert chosen(providers, "test-db", "delete") == "test-team/delete-test-db"


def test_simple_format_never_uses_golden_path_workflows(providers: ProviderSet) -> None:
    provider = providers.claims("test-db")

    assert provider is not None
    assert provider.types["test-db"]["create"].names() == ("provision-test-db",)


def test_missing_operation_says_which_provider_lacks_which_workflow(
    providers: ProviderSet, tmp_path: Path
) -> None:
    assert error_of(providers, "test-db", "update") == (
        "provider test-team has no update workflow for type 'test-db'; add operations.update for "
        f"'test-db' to {tmp_path}/test-team/provider.yaml"
    )


def test_missing_operation_through_an_alias_names_the_canonical_type(
    make_provider: MakeProvider,
) -> None:
    root = make_provider(
        """\
        apiVersion: v1
        kind: Provider
        metadata: {name: cache-team, version: 1.0.0}
        capabilities:
          resourceTypeCapabilities:
            - {type: redis, operations: {create: {workflow: provision-redis}}}
            - {type: cache, aliasFor: redis}
        workflows:
          - {name: provision-redis, file: workflows/provision-redis.yaml}
        """,
        {"provision-redis": None},
    )
    providers = load_provider_set([ProviderSourceSettings(name="cache-team", path=root)])

    assert error_of(providers, "cache", "delete").startswith(
        "provider cache-team has no delete workflow for type 'cache' (alias for redis); "
        "add operations.delete for 'redis' to "
    )


def test_advanced_format_uses_the_single_workflow_of_an_operation(providers: ProviderSet) -> None:
    assert chosen(providers, "postgres", "update") == "database-team/update-postgres"


def test_advanced_format_uses_the_default_among_tagged_workflows(providers: ProviderSet) -> None:
    assert chosen(providers, "postgres", "create") == "database-team/provision-postgres"
    assert chosen(providers, "postgres", "delete") == "database-team/delete-postgres"


def test_aliases_resolve_through_chains_to_the_canonical_type(providers: ProviderSet) -> None:
    assert chosen(providers, "postgresql", "update") == "database-team/update-postgres"
    assert chosen(providers, "pg", "create") == "database-team/provision-postgres"
    assert providers.claims("pg") is providers.providers["database-team"]


def test_tags_annotation_picks_the_workflow_having_all_the_tags(providers: ProviderSet) -> None:
    tags = "innominatus.io/workflow-tags"

    assert chosen(providers, "postgres", "create", {tags: "mock"}) == (
        "database-team/provision-postgres-mock"
    )
    assert chosen(providers, "postgres", "create", {tags: " test , mock "}) == (
        "database-team/provision-postgres-mock"
    )
    assert chosen(providers, "postgres", "create", {tags: ["test"]}) == (
        "database-team/provision-postgres-mock"
    )
    assert chosen(providers, "postgres", "delete", {tags: "mock"}) == (
        "database-team/delete-postgres-mock"
    )


def test_tags_matching_the_default_prefer_the_default(providers: ProviderSet) -> None:
    assert chosen(providers, "postgres", "create", {"innominatus.io/workflow-tags": "prod"}) == (
        "database-team/provision-postgres"
    )


def test_tags_that_match_no_workflow_are_refused_listing_the_tags(providers: ProviderSet) -> None:
    assert error_of(providers, "postgres", "delete", {"innominatus.io/workflow-tags": "test"}) == (
        "no delete workflow of provider database-team for type 'postgres' has the tags test "
        "(annotation innominatus.io/workflow-tags); its workflows and tags: delete-postgres "
        "[prod]; delete-postgres-mock [mock]; change the annotation"
    )


def test_tags_do_not_matter_for_an_operation_with_one_workflow(providers: ProviderSet) -> None:
    assert chosen(providers, "postgres", "update", {"innominatus.io/workflow-tags": "mock"}) == (
        "database-team/update-postgres"
    )


def test_several_workflows_without_default_need_an_annotation(providers: ProviderSet) -> None:
    assert error_of(providers, "queue", "create") == (
        "provider database-team has 2 create workflows for type 'queue' (provision-queue-a, "
        "provision-queue-b) and no default; choose one with annotation innominatus.io/workflow "
        "or innominatus.io/workflow-tags, or set a default in provider.yaml"
    )
    assert chosen(providers, "queue", "create", {"innominatus.io/workflow-tags": "b"}) == (
        "database-team/provision-queue-b"
    )


def test_workflow_annotation_overrides_default_and_tags(providers: ProviderSet) -> None:
    annotations = {
        "innominatus.io/workflow": "provision-postgres-small",
        "innominatus.io/workflow-tags": "mock",
    }

    assert chosen(providers, "postgres", "create", annotations) == (
        "database-team/provision-postgres-small"
    )


def test_workflow_annotation_may_not_pick_a_workflow_written_for_another_type(
    providers: ProviderSet,
) -> None:
    annotations = {"innominatus.io/workflow": "provision-queue-a"}

    with pytest.raises(ResolutionError, match="does not offer for type 'postgres'"):
        chosen(providers, "postgres", "create", annotations)


def test_workflow_annotation_picks_among_the_workflows_listed_for_the_type(
    providers: ProviderSet,
) -> None:
    annotations = {"innominatus.io/workflow": "provision-postgres-small"}

    assert chosen(providers, "postgres", "create", annotations) == (
        "database-team/provision-postgres-small"
    )


def test_workflow_annotation_for_create_leaves_delete_to_the_delete_workflow(
    providers: ProviderSet,
) -> None:
    annotations = {"innominatus.io/workflow": "provision-postgres-mock"}

    assert chosen(providers, "postgres", "delete", annotations) == ("database-team/delete-postgres")
    assert chosen(providers, "postgres", "update", annotations) == ("database-team/update-postgres")


def test_workflow_annotation_together_with_tags_still_selects_the_delete_by_tags(
    providers: ProviderSet,
) -> None:
    annotations = {
        "innominatus.io/workflow": "provision-postgres-mock",
        "innominatus.io/workflow-tags": "mock",
    }

    assert chosen(providers, "postgres", "delete", annotations) == (
        "database-team/delete-postgres-mock"
    )


def test_workflow_annotation_naming_an_unknown_workflow_is_refused(providers: ProviderSet) -> None:
    assert error_of(providers, "test-db", "create", {"innominatus.io/workflow": "nope"}) == (
        "annotation innominatus.io/workflow names workflow 'nope', which provider test-team does "
        "not have; use one of: delete-test-db, onboard-team, provision-test-db"
    )


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (
            {"innominatus.io/workflow": 3},
            "annotation innominatus.io/workflow must be a workflow name, got 3",
        ),
        (
            {"innominatus.io/workflow-tags": {"a": 1}},
            "annotation innominatus.io/workflow-tags must be comma-separated tags or a list of "
            "tags, got a mapping",
        ),
    ],
)
def test_malformed_annotations_are_refused(
    providers: ProviderSet, annotations: dict[str, object], message: str
) -> None:
    assert error_of(providers, "postgres", "create", annotations) == message


def test_unknown_type_lists_what_the_loaded_providers_claim(providers: ProviderSet) -> None:
    assert error_of(providers, "redis", "create") == (
        "no provider claims resource type 'redis'; loaded providers claim: pg, postgres, "
        "postgresql, queue, test-database, test-db"
    )


def test_unknown_type_in_an_empty_set_says_to_configure_a_provider() -> None:
    assert error_of(ProviderSet(providers={}), "redis", "create") == (
        "no provider claims resource type 'redis'; no provider is loaded; add one under "
        "providers: in the configuration"
    )


def test_an_unknown_operation_is_a_programming_error(providers: ProviderSet) -> None:
    with pytest.raises(ValueError, match="operation must be one of create, read, update, delete"):
        providers.resolve(type_="postgres", operation="upsert")


def test_resolution_errors_are_permanent() -> None:
    assert issubclass(ResolutionError, PermanentError)
