"""The ``score-workload`` step: a resolved Score workload -> Kubernetes manifests.

Deployment (containers with command, args, env, resources, probes, file and volume mounts),
Service from ``service.ports``, ConfigMap for inline files, Secret for variables whose value
carries a secret output (known from ``StepRequest.secrets``). The manifests are the step's
output ``manifests`` (multi-document YAML dumped from structures, so no value can add
structure), secret when a Secret is among them; a ``kubernetes`` step delivers them. Pure
rendering in :func:`render_manifests`; used by the built-in ``workload`` provider.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Collection, Mapping
from typing import Any

import yaml

from reconciler.executors.base import LogSink, StepRequest, StepResult

_DNS = re.compile(r"[^a-z0-9-]+")


def _name(text: str) -> str:
    cleaned = _DNS.sub("-", text.lower()).strip("-")[:63].strip("-")
    return cleaned or "x"


def _file_key(target: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", target.strip("/"))[-200:] or "file"
    return f"{base}-{hashlib.sha256(target.encode()).hexdigest()[:8]}"


def _probe(probe: Mapping[str, Any]) -> dict[str, Any]:
    if "exec" in probe:
        return {"exec": {"command": list(probe["exec"].get("command", []))}}
    http = probe["httpGet"]
    rendered: dict[str, Any] = {"httpGet": {"path": http["path"], "port": http["port"]}}
    for key in ("host", "scheme"):
        if key in http:
            rendered["httpGet"][key] = http[key]
    if http.get("httpHeaders"):
        rendered["httpGet"]["httpHeaders"] = [dict(h) for h in http["httpHeaders"]]
    return rendered


def render_manifests(
    spec: Mapping[str, Any], *, app: str, secret_values: Collection[str] = ()
) -> list[dict[str, Any]]:
    """The manifests of one resolved workload (``spec`` as ``resolve_workload`` returns it)."""
    name = _name(app)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "innominatus"}
    secrets = [s for s in secret_values if len(s) >= 4]
    config_data: dict[str, str] = {}
    binary_data: dict[str, str] = {}
    secret_data: dict[str, str] = {}
    containers = []
    volumes: list[dict[str, Any]] = []
    skipped: list[str] = []
    for container_name, container in spec.get("containers", {}).items():
        rendered: dict[str, Any] = {"name": _name(container_name), "image": container["image"]}
        for key in ("command", "args"):
            if container.get(key):
                rendered[key] = list(container[key])
        env = []
        for var, value in (container.get("variables") or {}).items():
            if any(secret in value for secret in secrets):
                key = _name(f"{container_name}-{var}")
                secret_data[key] = value
                ref = {"name": f"{name}-secrets", "key": key}
                env.append({"name": var, "valueFrom": {"secretKeyRef": ref}})
            else:
                env.append({"name": var, "value": value})
        if env:
            rendered["env"] = env
        if container.get("resources"):
            rendered["resources"] = {k: dict(v) for k, v in container["resources"].items()}
        for probe in ("livenessProbe", "readinessProbe"):
            if container.get(probe):
                rendered[probe] = _probe(container[probe])
        mounts = []
        for target, entry in (container.get("files") or {}).items():
            key = _file_key(target)
            if "source" in entry:
                skipped.append(f"{container_name}: {target} (source {entry['source']})")
                continue
            volume_name = "files"
            content = entry.get("content", "")
            if "binaryContent" in entry:
                binary_data[key] = entry["binaryContent"]
            elif any(secret in content for secret in secrets):
                # A file whose resolved content holds a secret goes to the Secret, never to
                # the ConfigMap (which lands in Git in plain text).
                secret_data[key] = content
                volume_name = "secret-files"
            else:
                config_data[key] = content
            mount = {"name": volume_name, "mountPath": target, "subPath": key, "readOnly": True}
            mounts.append(mount)
        for index, (target, entry) in enumerate((container.get("volumes") or {}).items()):
            volume = f"{_name(container_name)}-volume-{index}"
            claim = _name(entry["source"].split("#")[-1])
            volumes.append({"name": volume, "persistentVolumeClaim": {"claimName": claim}})
            mount = {"name": volume, "mountPath": target}
            if entry.get("path"):
                mount["subPath"] = entry["path"]
            if entry.get("readOnly"):
                mount["readOnly"] = True
            mounts.append(mount)
        if mounts:
            rendered["volumeMounts"] = mounts
        containers.append(rendered)
    manifests: list[dict[str, Any]] = []
    if config_data or binary_data:
        config_map: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-files", "labels": dict(labels)},
        }
        if config_data:
            config_map["data"] = config_data
        if binary_data:
            config_map["binaryData"] = binary_data
        manifests.append(config_map)
        volumes.insert(0, {"name": "files", "configMap": {"name": f"{name}-files"}})
    if any(m["name"] == "secret-files" for c in containers for m in c.get("volumeMounts", [])):
        volumes.insert(0, {"name": "secret-files", "secret": {"secretName": f"{name}-secrets"}})
    if secret_data:
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": f"{name}-secrets", "labels": dict(labels)},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in secret_data.items()},
            }
        )
    pod: dict[str, Any] = {"containers": containers}
    if volumes:
        pod["volumes"] = volumes
    manifests.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
            },
        }
    )
    ports = (spec.get("service") or {}).get("ports") or {}
    if ports:
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "labels": dict(labels)},
                "spec": {
                    "selector": {"app.kubernetes.io/name": name},
                    "ports": [
                        {
                            "name": _name(port_name),
                            "port": port["port"],
                            "targetPort": port.get("targetPort", port["port"]),
                            "protocol": port.get("protocol", "TCP"),
                        }
                        for port_name, port in ports.items()
                    ],
                },
            }
        )
    if skipped:
        # Files given by `source` live in the app repository next to the Score file, which a
        # step cannot read: they are left out (and named in the log), never mounted empty.
        manifests[-1 if not ports else -2].setdefault("metadata", {}).setdefault("annotations", {})[
            "innominatus.io/files-not-rendered"
        ] = ", ".join(skipped)
    return manifests


class ScoreWorkloadExecutor:
    """Renders the resolved workload (the step's params) to manifests; runs no process."""

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        unknown = sorted(set(config))
        if unknown:
            raise ValueError(f"a score-workload step takes no config keys (found {unknown})")

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        try:
            manifests = render_manifests(
                request.params, app=request.app, secret_values=request.secrets
            )
        except (KeyError, TypeError, AttributeError) as exc:
            return StepResult(
                status="failed",
                exit_code=None,
                outputs={},
                log="",
                log_truncated=0,
                error=f"the params are not a resolved Score workload: missing {exc}",
            )
        text = yaml.safe_dump_all(manifests, sort_keys=False)
        kinds = ", ".join(f"{m['kind']}/{m['metadata']['name']}" for m in manifests)
        log = f"rendered {len(manifests)} manifests: {kinds}\n"
        if on_log is not None:
            on_log(log)
        # Secret as a whole when a Secret is among them, or any known secret value is inside
        # (an argument built from a password, say): it is then masked wherever it is shown.
        secret = any(m["kind"] == "Secret" for m in manifests) or any(
            value in text for value in request.secrets if len(value) >= 4
        )
        return StepResult(
            status="succeeded",
            exit_code=0,
            outputs={"manifests": text},
            log=log,
            log_truncated=0,
            error=None,
            secret_outputs=frozenset({"manifests"}) if secret else frozenset(),
        )
