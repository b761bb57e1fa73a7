"""The legacy golden path catalogue and kind: Platform manifests (reconciler.providers.legacy)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.providers.documents import InvalidInputError
from reconciler.providers.legacy import merge_parameters, migrate, read_goldenpaths


def catalogue(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "goldenpaths.yaml"
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        read_goldenpaths(path)
    return [str(problem) for problem in caught.value.problems]


def test_a_golden_path_becomes_a_goldenpath_workflow_entry_with_typed_parameters(
    tmp_path: Path,
) -> None:
    paths = read_goldenpaths(
        catalogue(
            tmp_path,
            "goldenpaths:\n"
            "  db-backup:\n"
            "    workflow: ./workflows/db-backup.yaml\n"
            "    category: database\n"
            "    tags: [backup]\n"
            "    parameters:\n"
            "      keep: {type: int, default: '7', min: 1, max: 30}\n"
            "      compress: {type: bool, default: 'true'}\n"
            "      mode: {type: enum, default: full, allowed_values: [full, incremental]}\n",
        )
    )

    migration = migrate({"apiVersion": "v1", "kind": "Platform", "metadata": {}}, paths)

    assert migration.manifest["kind"] == "Provider"
    assert migration.manifest["workflows"] == [
        {
            "name": "db-backup",
            "file": "./workflows/db-backup.yaml",
            "category": "goldenpath",
            "tags": ["backup", "category:database"],
        }
    ]
    assert migration.parameters["./workflows/db-backup.yaml"] == [
        {"name": "keep", "type": "integer", "default": 7, "min": 1.0, "max": 30.0},
        {"name": "compress", "type": "boolean", "default": True},
        {
            "name": "mode",
            "type": "string",
            "default": "full",
            "allowed_values": ["full", "incremental"],
        },
    ]


def test_a_default_that_does_not_fit_its_type_is_dropped_with_a_note(tmp_path: Path) -> None:
    paths = read_goldenpaths(
        catalogue(
            tmp_path,
            "goldenpaths:\n  p:\n    workflow: w.yaml\n"
            "    parameters: {n: {type: int, default: many}, x: {type: colour}}\n",
        )
    )

    migration = migrate({"kind": "Provider"}, paths)

    assert migration.parameters["w.yaml"] == [
        {"name": "n", "type": "integer"},
        {"name": "x", "type": "string"},
    ]
    assert any("default 'many' is not an integer; dropped it" in n for n in migration.notes)
    assert any("unknown type 'colour'; declared it as a string" in n for n in migration.notes)


def test_a_golden_path_named_like_a_declared_workflow_keeps_the_manifest_entry(
    tmp_path: Path,
) -> None:
    paths = read_goldenpaths(
        catalogue(tmp_path, "goldenpaths:\n  deploy: {workflow: other.yaml}\n")
    )
    legacy = {"kind": "Provider", "workflows": [{"name": "deploy", "file": "deploy.yaml"}]}

    migration = migrate(legacy, paths)

    assert migration.manifest["workflows"] == [{"name": "deploy", "file": "deploy.yaml"}]
    assert any("already declares a workflow of that name" in n for n in migration.notes)


def test_merging_parameters_keeps_the_workflows_own_declarations() -> None:
    workflow = {"kind": "Workflow", "parameters": [{"name": "keep", "type": "string"}]}
    merged, added = merge_parameters(
        workflow, [{"name": "keep", "type": "number"}, {"name": "mode", "type": "string"}]
    )

    assert added == ["mode"]
    assert merged["parameters"] == [
        {"name": "keep", "type": "string"},
        {"name": "mode", "type": "string"},
    ]
    assert workflow["parameters"] == [{"name": "keep", "type": "string"}], "input not changed"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("goldenpaths:\n  p: {description: no workflow}\n", "2:3: goldenpaths.p.workflow"),
        (
            "goldenpaths:\n  p: {workflow: w.yaml, colour: red}\n",
            "2:25: goldenpaths.p: unknown key 'colour'",
        ),
        ("goldenpaths:\n  'bad name!': {workflow: w.yaml}\n", "2:3: goldenpaths"),
        ("paths: {}\n", "1:1"),
        ("", "1: goldenpaths.yaml is empty"),
    ],
)
def test_a_malformed_catalogue_is_refused_at_its_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = catalogue(tmp_path, text)

    found = problems_of(path)

    assert found
    assert found[0].startswith(f"{path}:{problem}"), found


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(
        alphabet=st.sampled_from(
            list("goldenpaths:workflow parameters type default {}[],'\"\n -#&*!|>")
        ),
        max_size=120,
    )
)
def test_any_text_reads_as_a_catalogue_or_an_input_error(tmp_path: Path, text: str) -> None:
    path = catalogue(tmp_path, text)
    try:
        paths = read_goldenpaths(path)
    except InputError:
        return
    migrate({"kind": "Platform"}, paths)
