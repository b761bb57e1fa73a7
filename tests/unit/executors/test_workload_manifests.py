"""The workload renderer on the score-compose examples: golden manifests, and a structural
check of every manifest (required fields, valid names, Service selectors match the Deployment,
secret-carrying variables only through a Secret)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.executors.base import StepRequest
from reconciler.executors.workload import ScoreWorkloadExecutor, render_manifests
from reconciler.score.loader import load_workloads
from reconciler.score.placeholders import find_references, split_ref
from reconciler.score.uid import resource_uid
from reconciler.score.workload import resolve_workload
from reconciler.secrets import is_secret_key
from tests.golden import check_golden
from tests.tools import missing

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
EXAMPLES = SHARED / "corpus" / "score" / "score-compose" / "examples"
GOLDEN = Path(__file__).with_name("golden") / "workload"
DNS = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _examples() -> list[Path]:
    if not EXAMPLES.is_dir():
        return []
    return sorted(p for p in EXAMPLES.rglob("*.yaml") if b"score.dev/v1b1" in p.read_bytes())


def _render(path: Path) -> list[list[dict[str, Any]]]:
    rendered = []
    for workload in load_workloads(path.read_bytes(), file=path.name):
        outputs: dict[str, dict[str, str]] = {}
        for ref in find_references(workload.spec):
            parts = split_ref(ref)
            if parts[0] == "resources" and len(parts) > 2:
                outputs.setdefault(parts[1], {})[parts[2]] = f"{parts[1]}-{parts[2]}-value"
        uids = {
            name: resource_uid(app=workload.name, name=name, type=r.type, class_=r.class_, id=r.id)
            for name, r in workload.resources.items()
        }
        resolved = resolve_workload(
            workload, outputs=outputs, uids=uids, secret=lambda _r, key: is_secret_key(key)
        )
        rendered.append(
            render_manifests(resolved.spec, app=workload.name, secret_values=resolved.secret_values)
        )
    return rendered


def _check(manifests: list[dict[str, Any]]) -> None:
    by_kind = {m["kind"]: m for m in manifests}
    for manifest in manifests:
        assert {"apiVersion", "kind", "metadata"} <= set(manifest)
        assert DNS.fullmatch(manifest["metadata"]["name"]), manifest["metadata"]["name"]
    deployment = by_kind["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert len(names) == len(set(names))
    assert all(DNS.fullmatch(n) for n in names)
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        assert container["image"]
        for env in container.get("env", []):
            assert "value" in env or "valueFrom" in env
            if "valueFrom" in env:
                assert (
                    env["valueFrom"]["secretKeyRef"]["name"]
                    == by_kind["Secret"]["metadata"]["name"]
                )
            else:
                assert "-value" not in env["value"] or not is_secret_key(env["name"].lower())
    if "Service" in by_kind:
        assert by_kind["Service"]["spec"]["selector"].items() <= pod_labels.items()
        assert all(1 <= p["port"] <= 65535 for p in by_kind["Service"]["spec"]["ports"])
    volumes = {v["name"] for v in deployment["spec"]["template"]["spec"].get("volumes", [])}
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes


@pytest.mark.parametrize("path", _examples(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_score_compose_examples_render_to_golden_and_sound_manifests(path: Path) -> None:
    rendered = _render(path)
    for manifests in rendered:
        _check(manifests)
    text = "---\n".join(yaml.safe_dump_all(m, sort_keys=False) for m in rendered)
    golden = GOLDEN / (str(path.relative_to(EXAMPLES)).replace("/", "__"))
    check_golden(golden, text, test=__file__)


def test_the_examples_are_there() -> None:
    if not EXAMPLES.is_dir():
        missing(f"score-compose examples not found at {EXAMPLES}; clone ../shared beside")
    assert len(_examples()) >= 10


def _request(tmp_path: Path, spec: dict[str, Any], *, secrets: set[str]) -> StepRequest:
    return StepRequest(
        execution_id=1,
        app="shop",
        resource="workload",
        resource_uid="workload.default#shop",
        operation="create",
        step_name="render",
        step_type="score-workload",
        config={},
        params=spec,
        previous_outputs={},
        workdir=tmp_path,
        state_dir=tmp_path,
        provider_dir=tmp_path,
        timeout=10,
        secrets=frozenset(secrets),
    )


def test_secret_variables_go_to_a_secret_and_the_output_is_secret(tmp_path: Path) -> None:
    spec = {
        "containers": {
            "web": {"image": "nginx", "variables": {"DB_PASSWORD": "pw-12345", "MODE": "a"}}
        },
        "service": {"ports": {"http": {"port": 80, "targetPort": 8080}}},
    }
    request = _request(tmp_path, spec, secrets={"pw-12345"})
    result = asyncio.run(ScoreWorkloadExecutor().run(request))
    assert result.status == "succeeded"
    assert result.secret_outputs == {"manifests"}
    manifests = list(yaml.safe_load_all(result.outputs["manifests"]))
    assert [m["kind"] for m in manifests] == ["Secret", "Deployment", "Service"]
    env = manifests[1]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "shop-secrets", "key": "web-db-password"}},
    }
    assert env[1] == {"name": "MODE", "value": "a"}
    assert "pw-12345" not in result.log


def test_a_file_whose_content_holds_a_secret_goes_to_the_secret_not_the_config_map() -> None:
    spec = {
        "containers": {
            "web": {
                "image": "nginx",
                "files": {
                    "/etc/app/db.conf": {"content": "url=postgres://u:pw-12345@db/x\n"},
                    "/etc/app/plain.conf": {"content": "mode=a\n"},
                },
            }
        }
    }
    manifests = render_manifests(spec, app="shop", secret_values={"pw-12345"})
    by_kind = {m["kind"]: m for m in manifests}
    assert "pw-12345" not in yaml.safe_dump(by_kind["ConfigMap"])
    assert "pw-12345" not in yaml.safe_dump(by_kind["Deployment"])
    assert len(by_kind["Secret"]["data"]) == 1
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {"/etc/app/db.conf": "secret-files", "/etc/app/plain.conf": "files"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["secret-files"]["secret"] == {"secretName": "shop-secrets"}


def test_manifests_holding_a_secret_anywhere_are_a_secret_output(tmp_path: Path) -> None:
    spec = {"containers": {"web": {"image": "nginx", "args": ["--password=pw-12345"]}}}
    request = _request(tmp_path, spec, secrets={"pw-12345"})
    result = asyncio.run(ScoreWorkloadExecutor().run(request))
    assert result.secret_outputs == {"manifests"}
