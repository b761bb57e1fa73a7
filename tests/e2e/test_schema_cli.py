"""``innominatus schema`` writes a schema editors use; ``validate --config`` checks params
against the providers' declarations, at the resource's line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.inprocess import invoke

ROOT = Path(__file__).resolve().parents[2]
SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: shop}
containers:
  web: {image: nginx}
resources:
  db:
    type: postgres
    params: {connection_limit: 2.5, databse: shop_db}
"""


def test_schema_without_a_configuration_uses_the_builtin_providers(tmp_path: Path) -> None:
    out = tmp_path / ".innominatus" / "score.schema.json"
    result = invoke(["schema", "-o", str(out)], cwd=tmp_path, env={"INNOMINATUS_CONFIG": ""})
    assert result.returncode == 0, result.stderr
    assert "built-in providers" in result.stderr
    schema = json.loads(out.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "postgres" in schema["$defs"]["resource"]["properties"]["type"]["enum"]


def test_schema_with_a_configuration_claims_its_types_only(tmp_path: Path) -> None:
    config = tmp_path / "innominatus.yaml"
    config.write_text(
        f"providers:\n  - {{name: dns, type: filesystem, path: {ROOT}/providers/dns}}\n"
    )
    result = invoke(["schema", "--config", str(config)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["$defs"]["resource"]["properties"]["type"]["enum"] == ["dns"]


def test_schema_with_a_broken_configuration_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "provider.yaml").write_text("kind: Provider\n")
    config = tmp_path / "innominatus.yaml"
    config.write_text(f"providers:\n  - {{name: x, type: filesystem, path: {tmp_path}/x}}\n")
    result = invoke(["schema", "--config", str(config)], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")


def test_validate_with_config_reports_wrong_types_at_the_resource_and_warns_of_unknowns(
    tmp_path: Path,
) -> None:
    config = tmp_path / "innominatus.yaml"
    config.write_text(
        f"providers:\n  - {{name: postgres, type: filesystem, path: {ROOT}/providers/postgres}}\n"
    )
    (tmp_path / "score.yaml").write_text(SCORE)
    result = invoke(["validate", "--config", str(config), "score.yaml"], cwd=tmp_path)
    assert result.returncode == 1
    assert (
        "score.yaml:6:3: resources.db.params: workflow create-database: parameter "
        "'connection_limit' must be an integer, got 2.5" in result.stderr
    )
    assert "warning: score.yaml:6:3: resources.db.params.databse: workflow create-database" in (
        result.stderr
    )
    offline = invoke(["validate", "score.yaml"], cwd=tmp_path)
    assert offline.returncode == 0  # without --config, providers are not consulted
