"""The resolved workload: placeholders substituted where Score substitutes them, never in
command, args or image; secret outputs marked; unknown references named with their place."""

from __future__ import annotations

import pytest

from reconciler.score.loader import load_workloads
from reconciler.score.workload import UnresolvedPlaceholder, resolve_workload

SPEC = """\
apiVersion: score.dev/v1b1
metadata: {name: shop}
containers:
  web:
    image: "${resources.db.host}"
    command: ["echo", "${resources.db.host}"]
    variables:
      DB_HOST: ${resources.db.host}
      DB_PASSWORD: ${resources.db.password}
      PORT: ${resources.db.port}
      LITERAL: $${not.a.ref}
    files:
      /etc/app.conf: {content: "host=${resources.db.host}"}
      /etc/raw.conf: {content: "host=${resources.db.host}", noExpand: true}
    volumes:
      /data: {source: "${resources.data}"}
resources:
  db: {type: postgres}
  data: {type: volume}
"""


def _resolve(outputs: dict[str, dict[str, object]]):  # type: ignore[no-untyped-def]
    [workload] = load_workloads(SPEC, file="score.yaml")
    return resolve_workload(
        workload,
        outputs=outputs,
        uids={"db": "postgres.default#shop.db", "data": "volume.default#shop.data"},
        secret=lambda resource, key: key == "password",
    )


def test_placeholders_are_substituted_where_score_says() -> None:
    resolved = _resolve({"db": {"host": "10.0.0.5", "password": "pw", "port": 5432}})
    web = resolved.spec["containers"]["web"]
    assert web["variables"] == {
        "DB_HOST": "10.0.0.5",
        "DB_PASSWORD": "pw",
        "PORT": "5432",
        "LITERAL": "${not.a.ref}",
    }
    assert web["files"]["/etc/app.conf"]["content"] == "host=10.0.0.5"
    assert web["files"]["/etc/raw.conf"]["content"] == "host=${resources.db.host}"
    assert web["volumes"]["/data"]["source"] == "volume.default#shop.data"
    assert web["image"] == "${resources.db.host}"
    assert web["command"] == ["echo", "${resources.db.host}"]


def test_variables_carrying_secret_outputs_are_marked() -> None:
    resolved = _resolve({"db": {"host": "h", "password": "pw", "port": 1}})
    assert resolved.secret_variables == {("web", "DB_PASSWORD")}


def test_a_missing_output_names_the_reference_and_its_place() -> None:
    with pytest.raises(UnresolvedPlaceholder) as error:
        _resolve({"db": {"host": "h"}})
    assert str(error.value).startswith("containers.web.variables.DB_PASSWORD: invalid ref")
    assert "has no output 'password' (its outputs: host)" in str(error.value)


def test_a_reference_to_an_undeclared_resource_is_rejected_at_load_time() -> None:
    text = SPEC.replace("DB_HOST: ${resources.db.host}", "DB_HOST: ${resources.cache.host}")
    with pytest.raises(Exception, match="no known resource 'cache'"):
        load_workloads(text, file="score.yaml")


def test_the_array_form_of_files_is_upgraded_with_a_warning() -> None:
    text = SPEC.replace(
        '      /etc/app.conf: {content: "host=${resources.db.host}"}\n'
        '      /etc/raw.conf: {content: "host=${resources.db.host}", noExpand: true}\n',
        '      - {target: /etc/app.conf, content: "x"}\n',
    )
    [workload] = load_workloads(text, file="score.yaml")
    assert workload.containers["web"]["files"] == {"/etc/app.conf": {"content": "x"}}
    assert workload.warnings
    assert "deprecated" in workload.warnings[0]
    assert workload.warnings[0].startswith("score.yaml:")
