"""deploy/ stays deployable (issue 14): the kustomize base and each overlay render to manifests
that validate against the Kubernetes schemas, agree with the image (user, ports, paths) and with
the configuration they mount, and keep one daemon per database.

The schemas are those ``kubernetes-validate`` bundles in its wheel (strict: an unknown or
misspelt field fails), so nothing is downloaded while the tests run. The overlays are rendered
twice: by a small renderer here (:func:`render`: resources, a ConfigMap generator and
strategic-merge patches, only as far as deploy/ uses them, failing on anything else), which
needs no program; and by ``kubectl kustomize`` when kubectl is on PATH, whose output must
validate too and equal this renderer's. CI does not install kubectl (``.ci/run``), so there
that comparison skips with its reason instead of failing like a missing tool of
``tests/tools.py``: the schema checks of every rendered overlay still run."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from reconciler.executors.registry import default_registry
from reconciler.providers.registry import load_provider_set
from reconciler.settings import ProviderSourceSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
OVERLAYS = {
    "sqlite": DEPLOY / "overlays" / "sqlite",
    "postgresql": DEPLOY / "overlays" / "postgresql",
    "replicas": DEPLOY / "overlays" / "replicas",
}
SINGLE = ("sqlite", "postgresql")
"""The overlays of one daemon per database."""
TARGETS = {"base": BASE, **OVERLAYS}
VERSIONS = ("1.28", kubernetes_validate.latest_version())
"""Kubernetes versions the manifests must be valid for: an old one still run, and the newest
the validator bundles."""

Manifest = dict[str, Any]

# --- a small kustomize, only as far as deploy/ uses it ---------------------------------------

_KNOWN_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "patches",
    "configMapGenerator",
    "generatorOptions",
}
_MERGE_BY_NAME = {"containers", "initContainers", "env", "volumes"}
"""Lists a strategic-merge patch merges item by item, keyed by ``name`` (their patch merge key
in the Kubernetes API); any other list of mappings in a patch is refused below."""


def _documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _kustomization(folder: Path) -> Manifest:
    (kustomization,) = _documents(folder / "kustomization.yaml")
    unknown = set(kustomization) - _KNOWN_KEYS
    assert not unknown, f"{folder}: the test's renderer does not know {unknown}; extend it"
    return kustomization


def _merge(base: Any, patch: Any, key: str = "") -> Any:
    """Strategic merge of ``patch`` into ``base``: mappings recursively, ``null`` deletes a key,
    the lists of ``_MERGE_BY_NAME`` by item name, lists of scalars replaced."""
    if isinstance(patch, dict) and isinstance(base, dict):
        merged = dict(base)
        for name, value in patch.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = _merge(base.get(name), value, name)
        return merged
    if isinstance(patch, list) and any(isinstance(item, dict) for item in patch):
        assert key in _MERGE_BY_NAME, f"the test's renderer cannot merge the list {key!r}"
        merged_list = list(base or [])
        for item in patch:
            names = [existing.get("name") for existing in merged_list]
            if item["name"] in names:
                index = names.index(item["name"])
                merged_list[index] = _merge(merged_list[index], item, key)
            else:
                merged_list.append({k: v for k, v in item.items() if v is not None})
        return merged_list
    return copy.deepcopy(patch)


def render(folder: Path) -> list[Manifest]:
    """The manifests ``kubectl kustomize folder`` makes of deploy/'s kustomizations."""
    kustomization = _kustomization(folder)
    manifests: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        target = folder / entry
        manifests += render(target) if target.is_dir() else _documents(target)
    options = kustomization.get("generatorOptions", {})
    for generator in kustomization.get("configMapGenerator", []):
        assert options.get("disableNameSuffixHash") is True, "the renderer makes no hash suffix"
        assert set(generator) == {"name", "files"}, generator
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": {Path(f).name: (folder / f).read_text() for f in generator["files"]},
            }
        )
    for entry in kustomization.get("patches", []):
        assert set(entry) == {"path"}, f"{folder}: only strategic-merge patch files: {entry}"
        (patch,) = _documents(folder / entry["path"])
        matches = [
            i
            for i, manifest in enumerate(manifests)
            if (manifest["kind"], manifest["metadata"]["name"])
            == (patch["kind"], patch["metadata"]["name"])
        ]
        assert len(matches) == 1, f"{entry['path']} matches {len(matches)} manifests"
        manifests[matches[0]] = _merge(manifests[matches[0]], patch)
    return manifests


def _normalised(manifests: list[Manifest]) -> dict[tuple[str, str], Any]:
    """By kind and name; lists of named items sorted by name (kustomize puts patched items
    first; their order means nothing here: no env value refers to another)."""

    def sort(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: sort(v) for k, v in value.items()}
        if isinstance(value, list):
            items = [sort(v) for v in value]
            if items and all(isinstance(v, dict) and "name" in v for v in items):
                return sorted(items, key=lambda v: v["name"])
            return items
        return value

    return {(m["kind"], m["metadata"]["name"]): sort(m) for m in manifests}


def _one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and name in (None, m["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def _by_name(items: list[Manifest]) -> dict[str, Manifest]:
    return {item["name"]: item for item in items}


# --- validity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_manifest_of_the_base_and_each_rendered_overlay_is_valid_kubernetes(
    target: str, version: str
) -> None:
    manifests = render(TARGETS[target])
    kinds = sorted(m["kind"] for m in manifests)
    expected = ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "Service"]
    if target != "base":
        expected = sorted([*expected, "PersistentVolumeClaim"])
    assert kinds == expected
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    """The check above has teeth: strict schemas refuse fields Kubernetes does not know."""
    deployment = copy.deepcopy(_one(render(BASE), "Deployment"))
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_kustomization_references_existing_files(target: str) -> None:
    folder = TARGETS[target]
    kustomization = _kustomization(folder)
    referenced = [
        *kustomization.get("resources", []),
        *(entry["path"] for entry in kustomization.get("patches", [])),
        *(f for gen in kustomization.get("configMapGenerator", []) for f in gen["files"]),
    ]
    assert referenced
    for entry in referenced:
        path = (folder / entry).resolve()
        assert path.exists(), f"{folder / 'kustomization.yaml'}: {entry} does not exist"
        assert path.is_relative_to(DEPLOY), f"{entry} lies outside deploy/"
        if path.is_dir():
            assert (path / "kustomization.yaml").is_file(), f"{entry}: no kustomization.yaml"
    listed = {(folder / e).resolve() for e in referenced} | {folder / "kustomization.yaml"}
    unused = {p for p in folder.glob("*.yaml")} - listed
    assert not unused, f"files in {folder} no kustomization uses: {sorted(unused)}"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_kubectl_kustomize_renders_what_the_test_renderer_validated(target: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        # Not tools.require_tool: CI (.ci/run) installs no kubectl, and this must not fail
        # there; every rendered overlay is still validated by the tests above.
        pytest.skip(
            "kubectl not found on PATH; install it (https://kubernetes.io/docs/tasks/tools/) "
            "to compare `kubectl kustomize` with the test's renderer"
        )
    result = subprocess.run(
        [kubectl, "kustomize", str(TARGETS[target])],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]
    for manifest in rendered:
        kubernetes_validate.validate(manifest, VERSIONS[-1], strict=True)
    assert _normalised(rendered) == _normalised(render(TARGETS[target]))


# --- what the manifests promise ------------------------------------------------------------------


@pytest.mark.parametrize("overlay", SINGLE)
def test_each_single_daemon_overlay_runs_one_daemon_replaced_not_rolled_with_its_data_on_a_claim(
    overlay: str,
) -> None:
    """One daemon per database without ``engine.replicas`` (the lease: a second daemon exits
    at start rather than wait), so one replica, and `Recreate` so that no update runs two pods
    at once."""
    manifests = render(OVERLAYS[overlay])
    deployment = _one(manifests, "Deployment", "innominatus")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = _one(manifests, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    volumes = _by_name(deployment["spec"]["template"]["spec"]["volumes"])
    assert volumes["data"] == {
        "name": "data",
        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]},
    }


def test_the_replicas_overlay_runs_three_replicas_rolled_on_postgresql_sharing_their_data(
    tmp_path: Path,
) -> None:
    manifests = render(OVERLAYS["replicas"])
    deployment = _one(manifests, "Deployment", "innominatus")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    claim = _one(manifests, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    volumes = _by_name(deployment["spec"]["template"]["spec"]["volumes"])
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"]}
    env = _by_name(deployment["spec"]["template"]["spec"]["containers"][0]["env"])
    assert env["INNOMINATUS_DATABASE"]["valueFrom"]["secretKeyRef"]["name"] == (
        "innominatus-database"
    )
    url = "postgresql+psycopg://innominatus:pw@db.internal:5432/innominatus"
    environ = {
        "INNOMINATUS_DATABASE": url,
        **{name: env[name]["value"] for name in env if "value" in env[name]},
    }
    settings = _config(manifests, tmp_path, environ)
    assert settings.engine.replicas
    assert settings.engine.lease_ttl <= 12  # a dead leader is replaced within 15 s
    budget = _one(manifests, "PodDisruptionBudget")
    assert budget["spec"] == {**budget["spec"], "maxUnavailable": 1}


def test_the_postgresql_overlay_takes_the_database_url_from_a_secret(tmp_path: Path) -> None:
    deployment = _one(render(OVERLAYS["postgresql"]), "Deployment")
    env = _by_name(deployment["spec"]["template"]["spec"]["containers"][0]["env"])
    assert env["INNOMINATUS_DATABASE"]["valueFrom"]["secretKeyRef"] == {
        "name": "innominatus-database",
        "key": "url",
    }
    manifests = render(OVERLAYS["postgresql"])
    url = "postgresql+psycopg://innominatus:pw@db.internal:5432/innominatus"
    # The file says SQLite; the variable (the settings' prefix INNOMINATUS_) overrides it.
    assert _config(manifests, tmp_path).database.startswith("sqlite:")
    assert _config(manifests, tmp_path, {"INNOMINATUS_DATABASE": url}).database == url
    sqlite = _one(render(OVERLAYS["sqlite"]), "Deployment")
    sqlite_env = _by_name(sqlite["spec"]["template"]["spec"]["containers"][0]["env"])
    assert "INNOMINATUS_DATABASE" not in sqlite_env


def _config(
    manifests: list[Manifest], folder: Path, environ: dict[str, str] | None = None
) -> Settings:
    """The mounted config.yaml, loaded as the daemon loads it (every key must exist)."""
    path = folder / "config.yaml"
    path.write_text(_one(manifests, "ConfigMap", "innominatus-config")["data"]["config.yaml"])
    return load_settings(path, environ=environ or {})


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_pod_matches_its_config_and_the_image(target: str, tmp_path: Path) -> None:
    """Ports, probes, paths, user and every environment variable the config names."""
    manifests = render(TARGETS[target])
    settings = _config(manifests, tmp_path)
    deployment = _one(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == [
        "innominatus",
        "run",
        "--config",
        "/etc/innominatus/config.yaml",
    ]

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"api": settings.api.port, "webhooks": settings.webhooks.port}
    assert (settings.api.host, settings.webhooks.host) == ("0.0.0.0", "0.0.0.0")
    assert settings.webhooks.enabled
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "api"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "api"}

    # The image's user (Dockerfile: useradd --uid 10001), non-root, nothing writable but volumes.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001 == pod["securityContext"]["fsGroup"]
    assert "useradd --create-home --uid 10001 innominatus" in (ROOT / "Dockerfile").read_text()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/innominatus"]["readOnly"] is True
    assert str(settings.data_dir) in mounts
    assert not mounts[str(settings.data_dir)].get("readOnly")
    database = settings.database.removeprefix("sqlite:///")
    assert Path(database).parent == settings.data_dir  # SQLite lives on the data volume
    for writable in ("/tmp", "/home/innominatus"):
        assert writable in mounts
    volumes = _by_name(pod["volumes"])
    assert volumes["config"]["configMap"]["name"] == "innominatus-config"

    # Every variable the config names comes from a Secret, as do the Fernet key and database.
    env = _by_name(container["env"])
    named = {settings.api.tokens_env, settings.webhooks.secret_env, "INNOMINATUS_SECRET_KEY"}
    named |= {repo.token_env for repo in settings.repositories if repo.token_env}
    for name in named:
        assert name in env, f"the config names {name}, the pod does not set it"
        assert "secretKeyRef" in env[name]["valueFrom"], name
    # The daemon gets SIGTERM and its grace before the kubelet kills it.
    assert pod["terminationGracePeriodSeconds"] > settings.engine.shutdown_grace


def test_the_webhook_receiver_has_a_service_of_its_own_to_expose_alone() -> None:
    manifests = render(BASE)
    pod_labels = _one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    api = _one(manifests, "Service", "innominatus-api")
    webhooks = _one(manifests, "Service", "innominatus-webhooks")
    assert [(p["port"], p["targetPort"]) for p in api["spec"]["ports"]] == [(8081, "api")]
    assert [(p["port"], p["targetPort"]) for p in webhooks["spec"]["ports"]] == [(8082, "webhooks")]
    for service in (api, webhooks):
        assert service["spec"]["selector"].items() <= pod_labels.items()
    budget = _one(manifests, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["spec"] == {"maxUnavailable": 1, "selector": budget["spec"]["selector"]}


def test_the_mounted_config_installs_providers_the_image_ships(tmp_path: Path) -> None:
    settings = _config(render(BASE), tmp_path)
    image_root = Path("/opt/innominatus/providers")
    sources = []
    for source in settings.providers:
        assert source.path is not None
        assert source.path.is_relative_to(image_root)
        local = ROOT / "providers" / source.path.relative_to(image_root)
        sources.append(
            ProviderSourceSettings(name=source.name, path=local, parameters=source.parameters)
        )
    providers = load_provider_set(
        sources,
        known_step_types=default_registry().known_types(),
        step_defaults=settings.step_defaults,
    )
    assert providers.claimed() == ["environment"]
