"""Validation says everything at once: a Score file with many mistakes is reported whole in one
run (schema, placeholders, loops, duplicate names), each problem as ``file:line:column``, and
``innominatus validate -o json`` gives one object per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.validate import validate
from reconciler.score import ScoreError, load_workloads

MISTAKES = """\
apiVersion: score.dev/v1b1
metadata:
  name: Shop
containers:
  web:
    image: nginx
    env:
      A: b
    variables:
      DB: ${resources.dbb.host}
  Bad_Name:
    image: x
resources:
  db:
    type: postgres
    class: x
    params:
      url: ${resources.cache.url}
  cache:
    type: r
    params:
      url: ${resources.db.url}
  queue:
    properties: {}
environment: prod
---
apiVersion: score.dev/v1b1
metadata:
  name: Shop
containers:
  main:
    image: nginx
"""
EXPECTED = [
    (3, 3, "/metadata/name", "'Shop' is not a valid workload name"),
    (7, 5, "/containers/web/env", "`env` is an innominatus field"),
    (10, 7, "/containers/web/variables/DB", "invalid ref 'resources.dbb.host'"),
    (11, 3, "/containers/Bad_Name", "'Bad_Name' is not a valid container name"),
    (16, 5, "/resources/db/class", "'x' is not a valid resource class"),
    (20, 5, "/resources/cache/type", "'r' is not a valid resource type"),
    (22, 7, "/resources/cache/params/url", "cycle: cache -> db -> cache"),
    (23, 3, "/resources/queue/type", "missing; add the resource type"),
    (24, 5, "/resources/queue/properties", "`properties` is an innominatus field"),
    (25, 1, "/environment", "`environment` is an innominatus field"),
    (29, 3, "/metadata/name", "'Shop' is not a valid workload name"),
    (29, 3, "/metadata/name", "workload 'Shop' is already declared at line 3"),
]


def test_every_mistake_of_a_file_is_reported_in_one_load_in_file_order() -> None:
    with pytest.raises(ScoreError) as refused:
        load_workloads(MISTAKES, file="score.yaml")

    found = [
        (p.location.line, p.location.column, p.pointer, p.message) for p in refused.value.located
    ]
    assert len(found) == len(EXPECTED)
    for (line, column, pointer, message), expected in zip(found, EXPECTED, strict=True):
        assert (line, column, pointer) == expected[:3]
        assert message.startswith(expected[3])
    lines = str(refused.value).splitlines()
    assert len(lines) == len(EXPECTED)
    assert lines[0].startswith("score.yaml:3:3: /metadata/name: 'Shop' is not a valid")


def test_validate_prints_every_problem_as_file_line_column_and_exits_1(tmp_path: Path) -> None:
    score = tmp_path / "score.yaml"
    score.write_text(MISTAKES)

    result = CliRunner().invoke(validate, [str(score)])

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [line.split(": ", 2)[:2] for line in lines[:-1]] == [
        [f"{score}:{line}:{column}", pointer] for line, column, pointer, _ in EXPECTED
    ]
    assert lines[-1] == f"0 valid, 1 invalid ({len(EXPECTED)} problems)"


def test_validate_json_gives_one_object_per_problem(tmp_path: Path) -> None:
    score = tmp_path / "score.yaml"
    score.write_text(MISTAKES)
    provider = tmp_path / "provider"
    (provider / "workflows").mkdir(parents=True)
    (provider / "provider.yaml").write_text(
        "apiVersion: v1\nkind: Provider\nmetadata: {name: p, version: 1.0.0}\n"
        "capabilities: {resourceTypes: [x-y]}\n"
        "workflows:\n  - {name: c, file: ./workflows/c.yaml}\n"
    )
    (provider / "workflows" / "c.yaml").write_text(
        "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: c}\n"
        "steps:\n  - {name: s, type: shell, config: {script: 'echo {{ .parametrs.x }}'}}\n"
        "  - {name: t, type: shell, config: {script: 'echo {{ .steps.u.output.x }}'}}\n"
    )

    result = CliRunner().invoke(validate, ["-o", "json", str(score), str(provider)])

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False
    problems = document["problems"]
    assert all(set(p) == {"file", "line", "column", "pointer", "message"} for p in problems)
    score_problems = [p for p in problems if p["file"] == str(score)]
    assert [(p["line"], p["column"], p["pointer"]) for p in score_problems] == [
        e[:3] for e in EXPECTED
    ]
    provider_problems = [p for p in problems if p["file"] != str(score)]
    assert [(Path(p["file"]).name, p["line"], p["pointer"]) for p in provider_problems] == [
        ("c.yaml", 5, None),
        ("c.yaml", 6, None),
    ]
    assert "unknown field .parametrs.x" in provider_problems[0]["message"]
    assert "there is no step 'u'" in provider_problems[1]["message"]
    assert [f["problems"] for f in document["files"]] == [len(EXPECTED), 2]
