"""Kubernetes manifests before delivery: documents parsed from text or taken as structures,
empty documents skipped, one file per object named after its namespace, kind and name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from reconciler.executors.base import StepRequest
from reconciler.executors.gitwriter import InMemoryGitWriterFactory
from reconciler.executors.kubernetes import KubernetesExecutor, file_name, manifests

TEXT = """\
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {replicas: "on"}
"""


def test_text_manifests_are_parsed_and_empty_documents_skipped() -> None:
    documents = manifests({"manifest": TEXT}, rendered=True)
    assert [d["kind"] for d in documents] == ["Namespace", "Deployment"]
    assert documents[1]["spec"]["replicas"] == "on"  # YAML 1.2: "on" stays a string


def test_files_are_named_by_namespace_kind_and_name() -> None:
    documents = manifests({"manifest": TEXT}, rendered=True)
    assert [file_name(d) for d in documents] == ["namespace-shop.yaml", "shop/deployment-web.yaml"]


def test_a_rendered_value_that_looks_like_a_template_is_still_checked() -> None:
    document = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "{{ x }}"}}
    assert manifests({"manifest": [document]}, rendered=False) == [document]
    with pytest.raises(ValueError, match="not a valid Kubernetes name"):
        manifests({"manifest": [document]}, rendered=True)


def test_an_object_named_twice_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    factory = InMemoryGitWriterFactory()
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"
    request = StepRequest(
        execution_id=1,
        app="shop",
        resource="ns",
        resource_uid="namespace.default#shop.ns",
        operation="create",
        step_name="apply",
        step_type="kubernetes",
        config={"url": "mem://g", "manifest": f"{namespace}---\n{namespace}"},
        params={},
        previous_outputs={},
        workdir=tmp_path,
        state_dir=tmp_path,
        provider_dir=tmp_path,
        timeout=10,
    )
    result = asyncio.run(KubernetesExecutor(git_writer_factory=factory).run(request))
    assert result.status == "failed"
    assert "names an object twice" in (result.error or "")
    assert factory.requests == []


def test_manifests_are_written_with_a_safe_dumper() -> None:
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"k": "a: b\n- c\n---\n"},
    }
    [parsed] = manifests({"manifest": document}, rendered=True)
    text = yaml.safe_dump(parsed)
    assert yaml.safe_load(text) == document
