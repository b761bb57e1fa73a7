"""load_workloads: Score files become workloads, or one error at the offending key's position."""

from __future__ import annotations

import pytest

from reconciler.errors import InputError, Location
from reconciler.score import ScoreError, load_workloads
from reconciler.yamlfile import MAX_FILE_BYTES

FILE = "apps/shop/score.yaml"

BASE = """\
apiVersion: score.dev/v1b1
metadata:
  name: shop
containers:
  main:
    image: nginx
resources:
  db:
    type: postgres
"""


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


def error_of(text: str | bytes) -> str:
    with pytest.raises(InputError) as caught:
        load_workloads(text, file=FILE)
    assert caught.value.location.line is not None
    return str(caught.value)


# --- valid files ---------------------------------------------------------------------------


def test_minimal_workload_loads_with_positions_and_defaults() -> None:
    [workload] = load_workloads(BASE, file=FILE)
    assert workload.name == "shop"
    assert workload.file == FILE
    assert workload.document == 0
    assert workload.location == Location(FILE, 3, 3)
    assert workload.metadata == {"name": "shop"}
    assert workload.containers == {"main": {"image": "nginx"}}
    assert workload.spec["apiVersion"] == "score.dev/v1b1"
    db = workload.resources["db"]
    assert (db.name, db.type, db.class_, db.id) == ("db", "postgres", "default", None)
    assert db.params == {}
    assert db.metadata == {}
    assert db.annotations == {}
    assert db.location == Location(FILE, 8, 3)


def test_resources_are_optional() -> None:
    [workload] = load_workloads(edit("resources:\n  db:\n    type: postgres\n", ""), file=FILE)
    assert workload.resources == {}


def test_resource_keeps_class_id_raw_params_and_annotations() -> None:
    text = BASE + (
        "  cache:\n"
        "    type: redis\n"
        "    class: large\n"
        "    id: shared.cache\n"
        "    metadata:\n"
        "      annotations:\n"
        "        innominatus.io/workflow: provision-redis-ha\n"
        "      owner: team-a\n"
        "    params:\n"
        "      url: postgres://${resources.db.host}:${resources.db.port}\n"
        "      name: ${metadata.name}\n"
        "      literal: $${not.a.reference}\n"
        "      replicas: 2\n"
    )
    [workload] = load_workloads(text, file=FILE)
    cache = workload.resources["cache"]
    assert (cache.class_, cache.id) == ("large", "shared.cache")
    assert cache.params == {
        "url": "postgres://${resources.db.host}:${resources.db.port}",
        "name": "${metadata.name}",
        "literal": "$${not.a.reference}",
        "replicas": 2,
    }
    assert cache.annotations == {"innominatus.io/workflow": "provision-redis-ha"}
    assert cache.metadata["owner"] == "team-a"
    assert list(workload.resources) == ["db", "cache"]


def test_every_document_is_a_workload_and_empty_documents_are_skipped() -> None:
    second = edit("name: shop", "name: shop-admin")
    text = BASE + "---\n# nothing here\n---\n" + second
    workloads = load_workloads(text, file=FILE)
    assert [w.name for w in workloads] == ["shop", "shop-admin"]
    assert [w.document for w in workloads] == [0, 2]
    assert workloads[1].location == Location(FILE, 15, 3)


def test_empty_file_has_no_workloads() -> None:
    assert load_workloads("", file=FILE) == []
    assert load_workloads("# only a comment\n", file=FILE) == []


def test_bytes_load_like_text() -> None:
    assert load_workloads(BASE.encode(), file=FILE) == load_workloads(BASE, file=FILE)


def test_yaml_1_1_booleans_stay_strings() -> None:
    text = edit(
        "    image: nginx\n", "    image: nginx\n    variables:\n      DEBUG: yes\n      X: off\n"
    )
    [workload] = load_workloads(text, file=FILE)
    assert workload.containers["main"]["variables"] == {"DEBUG": "yes", "X": "off"}


def test_params_may_reference_declared_resources_and_metadata() -> None:
    text = BASE + "  web:\n    type: route\n    params:\n      host: ${resources.db.host}\n"
    [workload] = load_workloads(text, file=FILE)
    assert workload.resources["web"].params == {"host": "${resources.db.host}"}


def test_score_error_carries_the_json_pointer() -> None:
    with pytest.raises(ScoreError) as caught:
        load_workloads(edit("type: postgres", "type: pg_sql"), file=FILE)
    assert caught.value.pointer == "/resources/db/type"
    assert caught.value.location == Location(FILE, 9, 5)


# --- rejections: (case, text, the whole message) -------------------------------------------

NAME_RULE = "use 2 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"
TYPE_RULE = (
    "use 2 to 63 characters of A-Z, a-z, 0-9 and '-', starting and ending with a letter or digit"
)
ID_RULE = (
    "use 2 to 63 characters: labels of a-z, 0-9 and '-' separated by '.', each starting and "
    "ending with a letter or digit"
)
F = FILE

REJECTIONS = [
    (
        "api-version-wrong",
        edit("score.dev/v1b1", "score.dev/v1"),
        f"{F}:1:1: /apiVersion: 'score.dev/v1' is not supported; expected 'score.dev/v1b1'",
    ),
    (
        "api-version-kubernetes",
        edit("score.dev/v1b1", "apps/v1"),
        f"{F}:1:1: /apiVersion: 'apps/v1' is not supported; expected 'score.dev/v1b1'",
    ),
    (
        "api-version-missing",
        edit("apiVersion: score.dev/v1b1\n", ""),
        f"{F}:1:1: /apiVersion: missing; add `apiVersion: score.dev/v1b1`",
    ),
    (
        "document-not-a-map",
        "- apiVersion: score.dev/v1b1\n",
        f"{F}:1:1: (root): expected a Score workload (a map with apiVersion, metadata and "
        "containers), got a list",
    ),
    (
        "top-level-unknown-key",
        BASE + "kind: Workload\n",
        f"{F}:10:1: /kind: unknown key at the top level; Score allows apiVersion, metadata, "
        "service, containers, resources",
    ),
    (
        "top-level-typo",
        edit("resources:", "resource:"),
        f"{F}:7:1: /resource: unknown key at the top level; did you mean `resources`? Score "
        "allows apiVersion, metadata, service, containers, resources",
    ),
    (
        "resource-key-typo",
        edit("    type: postgres\n", "    type: postgres\n    param: {}\n"),
        f"{F}:10:5: /resources/db/param: unknown key in /resources/db; did you mean `params`? "
        "Score allows type, class, id, metadata, params",
    ),
    (
        "top-level-extension",
        BASE + "x-team:\n  owner: me\n",
        f"{F}:10:1: /x-team: Score extensions (x-*) are not part of score.dev/v1b1; remove it",
    ),
    (
        "top-level-environment",
        BASE + "environment:\n  type: development\n",
        f"{F}:10:1: /environment: `environment` is an innominatus field, not Score; remove it "
        "(the platform decides where the app runs)",
    ),
    (
        "top-level-workflows",
        BASE + "workflows:\n  deploy: {}\n",
        f"{F}:10:1: /workflows: `workflows` is an innominatus field, not Score; workflows belong "
        "in a provider, remove them from the Score file",
    ),
    (
        "top-level-variables",
        edit("metadata:\n", "variables:\n  A: b\nmetadata:\n"),
        f"{F}:2:1: /variables: `variables` is not a Score field; set environment variables per "
        "container, under `containers.<name>.variables`",
    ),
    (
        "metadata-missing",
        edit("metadata:\n  name: shop\n", ""),
        f"{F}:1:1: /metadata: missing; add `metadata:` with the workload's `name`",
    ),
    (
        "metadata-not-a-map",
        edit("metadata:\n  name: shop\n", "metadata: [shop]\n"),
        f"{F}:2:1: /metadata: expected a map, got a list",
    ),
    (
        "name-missing",
        edit("  name: shop\n", "  team: web\n"),
        f"{F}:2:1: /metadata/name: missing; add the workload's name (its app name, unique)",
    ),
    (
        "name-not-a-string",
        edit("name: shop", "name: 42"),
        f"{F}:3:3: /metadata/name: expected a string, got a number (42); quote it",
    ),
    (
        "name-empty",
        edit("name: shop", "name:"),
        f"{F}:3:3: /metadata/name: expected a string, got an empty value",
    ),
    (
        "name-uppercase",
        edit("name: shop", "name: My_Shop"),
        f"{F}:3:3: /metadata/name: 'My_Shop' is not a valid workload name; {NAME_RULE}",
    ),
    (
        "name-one-character",
        edit("name: shop", "name: s"),
        f"{F}:3:3: /metadata/name: 's' is not a valid workload name; {NAME_RULE}",
    ),
    (
        "name-64-characters",
        edit("name: shop", "name: " + "s" * 64),
        f"{F}:3:3: /metadata/name: '{'s' * 64}' is not a valid workload name; {NAME_RULE}",
    ),
    (
        "name-trailing-dash",
        edit("name: shop", "name: shop-"),
        f"{F}:3:3: /metadata/name: 'shop-' is not a valid workload name; {NAME_RULE}",
    ),
    (
        "annotation-value-not-a-string",
        edit("  name: shop\n", "  name: shop\n  annotations:\n    replicas: 3\n"),
        f"{F}:5:5: /metadata/annotations/replicas: expected a string, got a number (3); quote it",
    ),
    (
        "annotation-name-invalid",
        edit("  name: shop\n", "  annotations:\n    -bad: x\n  name: shop\n"),
        f"{F}:4:5: /metadata/annotations/-bad: '-bad' is not a valid annotation name; use an "
        "optional DNS-name prefix and '/', then 2 to 63 characters of A-Z, a-z, 0-9, '-', '_' "
        "and '.', starting and ending with a letter or digit",
    ),
    (
        "containers-missing",
        edit("containers:\n  main:\n    image: nginx\n", ""),
        f"{F}:1:1: /containers: missing; add at least one container, e.g. `main: {{image: nginx}}`",
    ),
    (
        "containers-empty",
        edit("containers:\n  main:\n    image: nginx\n", "containers: {}\n"),
        f"{F}:4:1: /containers: empty; add at least one container with an `image`",
    ),
    (
        "containers-a-list",
        edit("containers:\n  main:\n    image: nginx\n", "containers:\n  - image: nginx\n"),
        f"{F}:4:1: /containers: expected a map of container names to containers, got a list",
    ),
    (
        "container-name-invalid",
        edit("  main:", "  Main_1:"),
        f"{F}:5:3: /containers/Main_1: 'Main_1' is not a valid container name; {NAME_RULE}",
    ),
    (
        "container-not-a-map",
        edit("  main:\n    image: nginx\n", "  main: nginx\n"),
        f"{F}:5:3: /containers/main: expected a container (a map with `image`), got a string",
    ),
    (
        "image-missing",
        edit("    image: nginx\n", "    command: [run]\n"),
        f"{F}:5:3: /containers/main/image: missing; add the container image, e.g. `nginx:1.27`",
    ),
    (
        "image-not-a-string",
        edit("image: nginx", "image: [nginx]"),
        f"{F}:6:5: /containers/main/image: expected a string, got a list",
    ),
    (
        "image-empty",
        edit("image: nginx", 'image: ""'),
        f"{F}:6:5: /containers/main/image: empty; set the container image, e.g. `nginx:1.27`",
    ),
    (
        "container-env-is-innominatus-only",
        edit("    image: nginx\n", "    image: nginx\n    env:\n      DEBUG: 'true'\n"),
        f"{F}:7:5: /containers/main/env: `env` is an innominatus field, not Score; use "
        "`variables` (Score's environment variables)",
    ),
    (
        "container-ports-belong-to-the-service",
        edit("    image: nginx\n", "    image: nginx\n    ports:\n      - port: 80\n"),
        f"{F}:7:5: /containers/main/ports: `ports` is not a container field in Score; declare "
        "ports under `service.ports`",
    ),
    (
        "container-unknown-key",
        edit("    image: nginx\n", "    image: nginx\n    replicas: 2\n"),
        f"{F}:7:5: /containers/main/replicas: unknown key in /containers/main; Score allows "
        "image, command, args, variables, files, volumes, resources, livenessProbe, "
        "readinessProbe, before",
    ),
    (
        "service-not-a-map",
        BASE + "service: 80\n",
        f"{F}:10:1: /service: expected a map, got a number (80)",
    ),
    (
        "resources-a-list",
        edit("  db:\n    type: postgres\n", "  - type: postgres\n"),
        f"{F}:7:1: /resources: expected a map of resource names to resources, got a list",
    ),
    (
        "resources-left-empty",
        edit("resources:\n  db:\n    type: postgres\n", "resources:\n"),
        f"{F}:7:1: /resources: expected a map of resource names to resources, got an empty value",
    ),
    (
        "resource-name-invalid",
        edit("  db:", "  d:"),
        f"{F}:8:3: /resources/d: 'd' is not a valid resource name; {NAME_RULE}",
    ),
    (
        "resource-name-not-a-string",
        edit("  db:", "  12:"),
        f"{F}:8:3: /resources/12: the key 12 is not a string; quote it (Score documents are "
        "JSON, whose keys are strings)",
    ),
    (
        "resource-not-a-map",
        edit("  db:\n    type: postgres\n", "  db: postgres\n"),
        f"{F}:8:3: /resources/db: expected a resource (a map with `type`), got a string",
    ),
    (
        "resource-type-missing",
        edit("    type: postgres\n", "    class: large\n"),
        f"{F}:8:3: /resources/db/type: missing; add the resource type, e.g. `postgres`",
    ),
    (
        "resource-type-invalid",
        edit("type: postgres", "type: pg_sql"),
        f"{F}:9:5: /resources/db/type: 'pg_sql' is not a valid resource type; {TYPE_RULE}",
    ),
    (
        "resource-type-not-a-string",
        edit("type: postgres", "type: 5"),
        f"{F}:9:5: /resources/db/type: expected a string, got a number (5); quote it",
    ),
    (
        "resource-class-invalid",
        edit("    type: postgres\n", "    type: postgres\n    class: x\n"),
        f"{F}:10:5: /resources/db/class: 'x' is not a valid resource class; {TYPE_RULE}",
    ),
    (
        "resource-id-invalid",
        edit("    type: postgres\n", "    type: postgres\n    id: Shared_DB\n"),
        f"{F}:10:5: /resources/db/id: 'Shared_DB' is not a valid resource id; {ID_RULE}",
    ),
    (
        "resource-id-over-63-characters",
        edit("    type: postgres\n", "    type: postgres\n    id: " + "a." * 32 + "a\n"),
        f"{F}:10:5: /resources/db/id: '{'a.' * 32}a' is not a valid resource id; {ID_RULE}",
    ),
    (
        "resource-params-not-a-map",
        edit("    type: postgres\n", "    type: postgres\n    params: [a]\n"),
        f"{F}:10:5: /resources/db/params: expected a map, got a list",
    ),
    (
        "resource-metadata-not-a-map",
        edit("    type: postgres\n", "    type: postgres\n    metadata: x\n"),
        f"{F}:10:5: /resources/db/metadata: expected a map, got a string",
    ),
    (
        "resource-annotation-not-a-string",
        edit(
            "    type: postgres\n",
            "    type: postgres\n    metadata:\n      annotations:\n"
            "        innominatus.io/workflow-tags: [fast]\n",
        ),
        f"{F}:12:9: /resources/db/metadata/annotations/innominatus.io~1workflow-tags: expected a "
        "string, got a list",
    ),
    (
        "resource-properties-is-innominatus-only",
        edit("    type: postgres\n", "    type: postgres\n    properties:\n      size: small\n"),
        f"{F}:10:5: /resources/db/properties: `properties` is an innominatus field, not Score; "
        "use `params`",
    ),
    (
        "resource-unknown-key",
        edit("    type: postgres\n", "    type: postgres\n    provider: aws\n"),
        f"{F}:10:5: /resources/db/provider: unknown key in /resources/db; Score allows type, "
        "class, id, metadata, params",
    ),
    (
        "params-reference-an-unknown-resource",
        BASE + "  web:\n    type: route\n    params:\n      host: ${resources.dns.host}\n",
        f"{F}:13:7: /resources/web/params/host: invalid ref 'resources.dns.host': no known "
        "resource 'dns'; declare it under `resources` or use one of this workload's: db, web",
    ),
    (
        "params-reference-an-unknown-resource-inside-a-list",
        BASE + "  web:\n    type: route\n    params:\n      hosts:\n        - a\n"
        "        - x ${resources.dns.host}\n",
        f"{F}:15:11: /resources/web/params/hosts/1: invalid ref 'resources.dns.host': no known "
        "resource 'dns'; declare it under `resources` or use one of this workload's: db, web",
    ),
    (
        "params-reference-unknown-metadata",
        BASE + "  web:\n    type: route\n    params:\n      host: ${metadata.team}\n",
        f"{F}:13:7: /resources/web/params/host: invalid ref 'metadata.team': key 'team' not "
        "found; the workload's metadata has: name",
    ),
    (
        "params-reference-an-unknown-root",
        BASE + "  web:\n    type: route\n    params:\n      host: ${env.HOST}\n",
        f"{F}:13:7: /resources/web/params/host: invalid ref 'env.HOST': unknown reference root, "
        "use $$ to escape the substitution",
    ),
    (
        "params-references-form-a-cycle",
        edit(
            "    type: postgres\n",
            "    type: postgres\n    params:\n      of: ${resources.db2.a}\n",
        )
        + "  db2:\n    type: postgres\n    params:\n      primary: ${resources.db.host}\n",
        f"{F}:11:7: /resources/db/params/of: cycle: db -> db2 -> db: resource params reference "
        "each other in a loop, so none can be created first; remove one of these references",
    ),
    (
        "params-reference-their-own-resource",
        edit(
            "    type: postgres\n",
            "    type: postgres\n    params:\n      url: ${resources.db.a}\n",
        ),
        f"{F}:11:7: /resources/db/params/url: cycle: db -> db: a resource's params cannot use its "
        "own outputs; remove the reference",
    ),
    (
        "two-workloads-with-one-name",
        BASE + "---\n" + BASE,
        f"{F}:13:3: /metadata/name: workload 'shop' is already declared at line 3 of this file; "
        "give each workload its own name",
    ),
    (
        "duplicate-key",
        edit("  name: shop\n", "  name: shop\n  name: shop2\n"),
        f"{F}:4:3: duplicate key 'name'; keep one of them",
    ),
    (
        "broken-indentation",
        edit("    image: nginx\n", "    image: nginx\n   command: [a\n"),
        f"{F}:7:4: invalid YAML: did not find expected key; fix the syntax",
    ),
    (
        "unclosed-quote",
        edit("image: nginx", "image: 'nginx"),
        f"{F}:10:1: invalid YAML: found unexpected end of stream; fix the syntax",
    ),
    (
        "tab-indentation",
        edit("    image: nginx", "\timage: nginx"),
        f"{F}:6:1: invalid YAML: found character that cannot start any token; fix the syntax",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [pytest.param(text, msg, id=case) for case, text, msg in REJECTIONS]
)
def test_invalid_workload_is_rejected_at_the_offending_key(text: str, message: str) -> None:
    assert error_of(text) == message


def test_a_broken_document_fails_the_whole_file_with_every_problem_of_every_document() -> None:
    text = BASE + "---\n" + edit("score.dev/v1b1", "score.dev/v2")
    assert error_of(text) == (
        f"{F}:11:1: /apiVersion: 'score.dev/v2' is not supported; expected 'score.dev/v1b1'\n"
        f"{F}:13:3: /metadata/name: workload 'shop' is already declared at line 3 of this file; "
        "give each workload its own name"
    )


def test_escaped_placeholders_are_not_references() -> None:
    text = BASE + "  web:\n    type: route\n    params:\n      host: $${resources.dns.host}\n"
    [workload] = load_workloads(text, file=FILE)
    assert workload.resources["web"].params["host"] == "$${resources.dns.host}"


# --- what the YAML layer reports without a line gets one here -------------------------------


def test_bytes_that_are_not_utf8_report_the_line_and_column_of_the_bad_byte() -> None:
    text = edit("name: shop", "name: sh\xffop").encode("latin-1")
    assert error_of(text) == f"{F}:3:11: not UTF-8 text (byte 47); save the file as UTF-8"


def test_control_character_reports_its_line() -> None:
    assert error_of(edit("name: shop", "name: sh\x07op")) == (
        f"{F}:3:11: invalid YAML: character U+0007 is not allowed; remove it"
    )


def test_lone_surrogate_in_text_reports_its_line() -> None:
    message = error_of(edit("name: shop", "name: sh\ud800op"))
    assert message.startswith(f"{F}:3:11: not UTF-8 text")


def test_self_referencing_alias_is_an_input_error() -> None:
    message = error_of("apiVersion: score.dev/v1b1\nmetadata: &loop [*loop]\n")
    assert message == f"{F}:2:11: an alias refers to itself; remove the cycle"


def test_badly_tagged_scalar_is_an_input_error() -> None:
    assert error_of("apiVersion: !!int v1b1\n") == (
        f"{F}:1:13: 'v1b1' does not fit tag tag:yaml.org,2002:int; fix the value"
    )


def test_oversized_file_is_an_input_error_with_a_line() -> None:
    text = BASE + "#" * MAX_FILE_BYTES
    assert error_of(text).startswith(f"{F}:1: larger than 1 MiB (")


def test_deep_nesting_in_params_is_refused() -> None:
    text = BASE + "    params:\n      deep: " + "[" * 70 + "]" * 70 + "\n"
    assert "nested more than 64 levels deep; flatten it" in error_of(text)


def test_package_exports_the_loading_surface() -> None:
    import reconciler.score as score

    assert sorted(score.__all__) == [
        "CycleError",
        "PlaceholderError",
        "ResourceSpec",
        "ScoreError",
        "Workload",
        "creation_order",
        "load_workloads",
        "resource_uid",
    ]
