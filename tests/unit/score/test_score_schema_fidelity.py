"""Our Score models agree with the official JSON schema (draft 2020-12): the corpus, typical
mistakes, and generated variations of real workloads are accepted or rejected alike; every
problem of a file is reported once, at its key."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.score.loader import load_workloads
from tests.tools import missing

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
SCHEMA_FILE = SHARED / "corpus" / "score" / "spec" / "score-v1b1.json"

BASE: dict[str, Any] = {
    "apiVersion": "score.dev/v1b1",
    "metadata": {"name": "shop"},
    "service": {"ports": {"www": {"port": 80, "targetPort": 8080}}},
    "containers": {
        "web": {
            "image": "nginx",
            "command": ["/bin/sh"],
            "args": ["-c", "run"],
            "variables": {"PORT": "8080"},
            "files": {"/etc/app.conf": {"content": "x", "mode": "0644"}},
            "volumes": {"/data": {"source": "${resources.data}", "readOnly": True}},
            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
            "livenessProbe": {"httpGet": {"port": 8080, "path": "/health"}},
            "readinessProbe": {"exec": {"command": ["true"]}},
        },
        "sidecar": {"image": "busybox", "before": {"web": {"ready": "started"}}},
    },
    "resources": {"data": {"type": "volume"}},
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    if not SCHEMA_FILE.exists():
        missing(f"official schema not found at {SCHEMA_FILE}; clone ../shared beside the project")
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def ours_accept(document: dict[str, Any]) -> bool:
    try:
        load_workloads(json.dumps(document), file="score.yaml")  # JSON is YAML 1.2
    except InputError:
        return False
    return True


MISTAKES = {
    "missing apiVersion": lambda d: d.pop("apiVersion"),
    "one-character name": lambda d: d["metadata"].update(name="a"),
    "upper-case name": lambda d: d["metadata"].update(name="Shop"),
    "non-string variable": lambda d: d["containers"]["web"]["variables"].update(PORT=8080),
    "unquoted cpu": lambda d: d["containers"]["web"]["resources"]["limits"].update(cpu=0.5),
    "port 0": lambda d: d["service"]["ports"]["www"].update(port=0),
    "content with source": lambda d: d["containers"]["web"]["files"]["/etc/app.conf"].update(
        source="f"
    ),
    "unknown top-level key": lambda d: d.update(extra=1),
    "empty liveness probe": lambda d: d["containers"]["web"].update(livenessProbe={}),
    "invalid resource id": lambda d: d["resources"]["data"].update(id="Bad_Id"),
    "unknown protocol": lambda d: d["service"]["ports"]["www"].update(protocol="SCTP"),
    "bad memory": lambda d: d["containers"]["web"]["resources"]["limits"].update(memory="lots"),
    "before without ready": lambda d: d["containers"]["sidecar"].update(before={"web": {}}),
    "http probe without path": lambda d: d["containers"]["web"]["livenessProbe"]["httpGet"].pop(
        "path"
    ),
    "file mode not octal": lambda d: d["containers"]["web"]["files"]["/etc/app.conf"].update(
        mode="rw"
    ),
    "volume without source": lambda d: d["containers"]["web"]["volumes"]["/data"].pop("source"),
}


def test_the_base_workload_is_valid_for_both(validator: jsonschema.Draft202012Validator) -> None:
    assert validator.is_valid(BASE)
    assert ours_accept(copy.deepcopy(BASE))


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_typical_mistakes_are_rejected_like_the_schema_does(
    validator: jsonschema.Draft202012Validator, mistake: str
) -> None:
    document = copy.deepcopy(BASE)
    MISTAKES[mistake](document)
    assert not validator.is_valid(document)
    assert not ours_accept(document)


def test_every_problem_is_reported_once_at_its_key() -> None:
    document = copy.deepcopy(BASE)
    document["containers"]["web"]["variables"]["PORT"] = 8080
    document["service"]["ports"]["www"]["port"] = 0
    document["containers"]["web"]["livenessProbe"] = {}
    with pytest.raises(InputError) as error:
        load_workloads(yaml.safe_dump(document, sort_keys=False), file="score.yaml")
    lines = str(error.value).splitlines()
    assert len(lines) == 3
    assert any("/service/ports/www/port: 0 is out of range" in line for line in lines)
    assert any(
        "/containers/web/variables/PORT: expected a string, got a number" in line for line in lines
    )
    assert any(
        "/containers/web/livenessProbe: set at least one of httpGet, exec" in line for line in lines
    )
    assert all(line.startswith("score.yaml:") for line in lines)


def test_the_deprecated_array_form_of_files_and_volumes_is_accepted(
    validator: jsonschema.Draft202012Validator,
) -> None:
    document = copy.deepcopy(BASE)
    web = document["containers"]["web"]
    web["files"] = [{"target": "/etc/app.conf", "content": "x"}]
    web["volumes"] = [{"target": "/data", "source": "${resources.data}"}]
    assert validator.is_valid(document)
    assert ours_accept(document)


_PATHS = [
    ("containers", "web", "variables", "PORT"),
    ("containers", "web", "resources", "limits", "cpu"),
    ("containers", "web", "resources", "limits", "memory"),
    ("service", "ports", "www", "port"),
    ("service", "ports", "www", "targetPort"),
    ("service", "ports", "www", "protocol"),
    ("containers", "web", "files", "/etc/app.conf", "mode"),
    ("containers", "web", "livenessProbe", "httpGet", "port"),
    ("containers", "web", "livenessProbe", "httpGet", "scheme"),
    ("containers", "sidecar", "before", "web", "ready"),
    ("containers", "web", "volumes", "/data", "readOnly"),
    ("containers", "web", "image"),
]
_VALUES = st.one_of(
    st.integers(-5, 70000),
    st.booleans(),
    st.none(),
    st.sampled_from(
        [
            "",
            "0",
            "80",
            "500m",
            "0.5",
            "1.5Gi",
            "12X",
            "TCP",
            "UDP",
            "HTTP",
            "HTTPS",
            "started",
            "ready",
            "0644",
            "644",
            "0999",
            "abc",
        ]
    ),
    st.lists(st.text(max_size=3), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(_PATHS), value=_VALUES)
def test_generated_variations_get_the_schema_verdict(path: tuple[str, ...], value: Any) -> None:
    if not SCHEMA_FILE.exists():
        missing(f"official schema not found at {SCHEMA_FILE}; clone ../shared beside")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    document = copy.deepcopy(BASE)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert ours_accept(document) == validator.is_valid(document), (path, value)


def _problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(InputError) as error:
        load_workloads(json.dumps(document), file="score.yaml")
    return str(error.value).splitlines()


def test_before_must_name_another_known_container_without_a_cycle() -> None:
    unknown = copy.deepcopy(BASE)
    unknown["containers"]["sidecar"]["before"] = {"db": {"ready": "started"}}
    assert any("/containers/sidecar/before/db: no container 'db'" in p for p in _problems(unknown))
    itself = copy.deepcopy(BASE)
    itself["containers"]["sidecar"]["before"] = {"sidecar": {"ready": "started"}}
    assert any("cannot wait for itself" in p for p in _problems(itself))
    loop = copy.deepcopy(BASE)
    loop["containers"]["web"]["before"] = {"sidecar": {"ready": "started"}}
    assert any("containers wait for each other" in p for p in _problems(loop))


def test_problems_in_metadata_containers_and_resources_are_all_reported() -> None:
    document = copy.deepcopy(BASE)
    document["metadata"]["name"] = "Shop"
    document["containers"]["web"]["variables"]["PORT"] = 1
    document["resources"]["data"]["id"] = "Bad_Id"
    document["resources"]["other"] = {"class": "x"}
    problems = _problems(document)
    assert len(problems) == 5
    assert [p.split(": ", 2)[1] for p in problems] == [
        "/metadata/name",
        "/containers/web/variables/PORT",
        "/resources/data/id",
        "/resources/other/type",  # missing: located at its resource's key
        "/resources/other/class",
    ]
