"""The ``argocd-app`` step: an Argo CD ``Application`` built from the step's config, checked
against the shape of the Application CRD, delivered exactly like a ``kubernetes`` step's manifest.

The original innominatus had this step built in; its workflows spell the keys two ways (Argo CD's
own names and snake_case), and both are read: ``appName``/``app_name`` (required),
``project`` (default ``default``), ``repoURL``/``repo_url``, ``path`` (the folder in that
repository, default ``.``), ``targetRevision``/``target_revision`` (default ``HEAD``),
``namespace``/``dest_namespace`` (the destination namespace), ``server`` (default the cluster
Argo CD runs in), ``argocd_namespace`` (where the Application lives, default ``argocd``),
``syncPolicy``/``sync_policy`` (``auto``/``automated`` or ``manual``), ``automated``
(``{prune, selfHeal}``) or the flat ``auto_sync``, ``prune``, ``self_heal``, and ``cascade``
(default true: Argo CD's resources finalizer, so deleting the Application deletes what it
deployed). An empty value (an optional parameter left out) counts as absent.

``operation`` is ``create``/``apply``/``update`` or ``delete`` (default: from the resource's
operation). An update keeps, for every key it leaves out, what this resource last applied (kept
in its ``INNOMINATUS_STATE_DIR``), so the original's "change only the repo URL" update works.

Delivery (:func:`reconciler.executors.kubernetes.deliver_documents`): a GitOps commit of
``[<gitops_path>/]<argocd namespace>/application-<name>.yaml`` to ``url``/``branch``
(``gitops_path`` names the folder because ``path`` is Argo CD's), or with ``context`` a
``kubectl`` server-side apply; delete removes the file, or ``kubectl delete``. Called by the
engine's runner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from reconciler.executors import checks
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.gitcommit import GitTarget
from reconciler.executors.gitwriter import GitWriterFactory
from reconciler.executors.kubernetes import deliver_documents, kubectl_run
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.outputs import RECORD_LIMIT, read_step_file, write_record
from reconciler.executors.results import invalid

STEP = "argocd-app"
API_VERSION = "argoproj.io/v1alpha1"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
IN_CLUSTER = "https://kubernetes.default.svc"
SPELLINGS = {
    "appName": "app_name",
    "repoURL": "repo_url",
    "targetRevision": "target_revision",
    "syncPolicy": "sync_policy",
    "destNamespace": "dest_namespace",
    "argocdNamespace": "argocd_namespace",
    "autoSync": "auto_sync",
    "selfHeal": "self_heal",
}
"""Argo CD's key names and the original's snake_case ones: either may be given, not both."""
SYNC_POLICIES = {"auto": True, "automated": True, "manual": False, "none": False}
_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_TEXT = {"type": "string", "minLength": 1}
SCHEMA: Mapping[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "argoproj.io/v1alpha1 Application (the fields the argocd-app step writes)",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": API_VERSION},
        "kind": {"const": "Application"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": _SUBDOMAIN},
                "namespace": {"type": "string", "pattern": _LABEL},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "finalizers": {"type": "array", "items": {"const": FINALIZER}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["project", "source", "destination"],
            "additionalProperties": False,
            "properties": {
                "project": {"type": "string", "pattern": _SUBDOMAIN},
                "source": {
                    "type": "object",
                    "required": ["repoURL"],
                    "additionalProperties": False,
                    "properties": {"repoURL": _TEXT, "path": _TEXT, "targetRevision": _TEXT},
                },
                "destination": {
                    "type": "object",
                    "required": ["server"],
                    "additionalProperties": False,
                    "properties": {
                        "server": {"type": "string", "pattern": "^https?://[^\\s]+$"},
                        "namespace": {"type": "string", "pattern": _LABEL},
                    },
                },
                "syncPolicy": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "automated": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "prune": {"type": "boolean"},
                                "selfHeal": {"type": "boolean"},
                            },
                        }
                    },
                },
            },
        },
    },
}
_VALIDATOR = Draft202012Validator(SCHEMA)
_KEY_OF = {
    "metadata.name": "appName",
    "metadata.namespace": "argocd_namespace",
    "spec.project": "project",
    "spec.source.repoURL": "repoURL",
    "spec.source.path": "path",
    "spec.source.targetRevision": "targetRevision",
    "spec.destination.server": "server",
    "spec.destination.namespace": "namespace",
    "spec.syncPolicy.automated.prune": "automated.prune",
    "spec.syncPolicy.automated.selfHeal": "automated.selfHeal",
}
"""The config key each emitted field comes from, for the error message."""


def _get(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]`` under either spelling; None when absent or empty."""
    snake = SPELLINGS.get(key, key)
    camel = next((c for c, s in SPELLINGS.items() if s == key), key)
    values = [config.get(name) for name in dict.fromkeys((camel, snake))]
    given = [value for value in values if value is not None and value != ""]
    if len(given) > 1 and given[0] != given[1]:
        raise ValueError(
            f"an {STEP} step sets both `config.{camel}` and `config.{snake}`; keep one"
        )
    return given[0] if given else None


def _flag(config: Mapping[str, Any], key: str, value: Any) -> bool | None:
    """A boolean, or the text a template renders one to; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if checks.is_template(value):
        return None
    raise ValueError(f"`config.{key}` of an {STEP} step must be true or false; got {value!r}")


def _sync(config: Mapping[str, Any]) -> dict[str, bool] | bool | None:
    """``spec.syncPolicy.automated`` as the config says it: its switches, False for manual
    sync, None when the config says nothing about syncing (a template counts as nothing)."""
    policy = _get(config, "sync_policy")
    nested = config.get("automated") or {}
    if not isinstance(nested, Mapping):
        raise ValueError(f"`config.automated` of an {STEP} step must be {{prune, selfHeal}}")
    unknown = sorted(set(nested) - {"prune", "selfHeal"})
    if unknown:
        raise ValueError(
            f"`config.automated` of an {STEP} step holds {', '.join(map(repr, unknown))}; "
            "the Application's spec.syncPolicy.automated takes prune and selfHeal"
        )
    auto = _flag(config, "auto_sync", _get(config, "auto_sync"))
    if policy is not None and not checks.is_template(policy):
        if not isinstance(policy, str) or policy.lower() not in SYNC_POLICIES:
            raise ValueError(
                f"`config.syncPolicy` of an {STEP} step must be one of "
                f"{', '.join(SYNC_POLICIES)}; got {policy!r}"
            )
        wanted = SYNC_POLICIES[policy.lower()]
        if auto is not None and auto != wanted:
            raise ValueError(
                f"an {STEP} step sets `config.syncPolicy: {policy}` and `config.auto_sync: "
                f"{str(auto).lower()}`, which disagree; keep one"
            )
        auto = wanted
    switches = {
        "prune": _flag(config, "automated.prune", nested.get("prune"))
        if "prune" in nested
        else _flag(config, "prune", config.get("prune")),
        "selfHeal": _flag(config, "automated.selfHeal", nested.get("selfHeal"))
        if "selfHeal" in nested
        else _flag(config, "self_heal", _get(config, "self_heal")),
    }
    if auto is None and not nested:
        return None
    if auto is False:
        return False
    return {key: value for key, value in switches.items() if value is not None}


def application(
    config: Mapping[str, Any], *, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Application the config describes; keys it leaves out keep their ``previous``
    value (this resource's last applied Application), else Argo CD's usual defaults."""
    before: Mapping[str, Any] = previous or {}
    spec_before = before.get("spec", {})
    source_before = spec_before.get("source", {})
    destination_before = spec_before.get("destination", {})
    name = _get(config, "app_name")
    if name is None:
        raise ValueError(f"an {STEP} step needs `config.appName` (or `config.app_name`)")
    repo = _get(config, "repo_url") or source_before.get("repoURL")
    if repo is None:
        raise ValueError(
            f"an {STEP} step needs `config.repoURL` (or `config.repo_url`), the repository "
            "Argo CD deploys from"
        )
    cascade = _flag(config, "cascade", config.get("cascade"))
    if cascade is None:
        cascade = FINALIZER in before.get("metadata", {}).get("finalizers", [FINALIZER])
    destination_namespace = (
        _get(config, "dest_namespace")
        or config.get("namespace")
        or destination_before.get("namespace")
    )
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": _get(config, "argocd_namespace") or "argocd",
        "labels": {"app.kubernetes.io/managed-by": "innominatus"},
    }
    if cascade:
        metadata["finalizers"] = [FINALIZER]
    destination = {"server": config.get("server") or destination_before.get("server", IN_CLUSTER)}
    if destination_namespace is not None:
        destination["namespace"] = destination_namespace
    spec: dict[str, Any] = {
        "project": config.get("project") or spec_before.get("project", "default"),
        "source": {
            "repoURL": repo,
            "path": config.get("path") or source_before.get("path", "."),
            "targetRevision": _get(config, "target_revision")
            or source_before.get("targetRevision", "HEAD"),
        },
        "destination": destination,
    }
    sync = _sync(config)
    if sync is None:
        sync = spec_before.get("syncPolicy", {}).get("automated", False)
    if sync is not False:
        spec["syncPolicy"] = {"automated": sync}
    return {"apiVersion": API_VERSION, "kind": "Application", "metadata": metadata, "spec": spec}


def problems(document: Mapping[str, Any], *, rendered: bool) -> list[str]:
    """What in ``document`` breaks the Application schema, each naming the config key the
    field came from; at load (not ``rendered``) a field still holding a template passes."""
    found = []
    for error in sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path)):
        if not rendered and checks.is_template(error.instance):
            continue
        where = ".".join(str(part) for part in error.absolute_path)
        key = _KEY_OF.get(where)
        field = f"`config.{key}` (Application {where})" if key else f"Application {where or '/'}"
        found.append(f"{field}: {error.message}")
    return found


def _check(document: Mapping[str, Any], *, rendered: bool) -> None:
    found = problems(document, rendered=rendered)
    if found:
        raise ValueError(f"the Application of an {STEP} step is not valid: {'; '.join(found)}")


def _operation(config: Mapping[str, Any], request_operation: str) -> str:
    value = config.get("operation") or request_operation
    if value in ("create", "apply", "update"):
        return "apply"
    if value == "delete":
        return "delete"
    raise ValueError(
        f"`config.operation` of an {STEP} step must be create, update, apply or delete; "
        f"got {value!r}"
    )


def gitops_target(config: Mapping[str, Any]) -> GitTarget:
    """The GitOps repository: ``url``, ``branch``, ``token_env`` and ``gitops_path``."""
    view = {key: config.get(key) for key in ("url", "branch", "token_env")}
    return GitTarget.from_config({**view, "path": config.get("gitops_path")}, step=STEP)


def _record(request: StepRequest, name: str) -> Path:
    return request.state_dir / f"argocd-app-{name}.json"


def _recorded(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(read_step_file(path, what="record", limit=RECORD_LIMIT) or "")
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


class ArgoCdAppExecutor:
    def __init__(self, *, git_writer_factory: GitWriterFactory, kubectl: str = "kubectl") -> None:
        self._factory = git_writer_factory
        self._kubectl = kubectl

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        operation = config.get("operation")
        if not checks.is_template(operation):
            checks.choice(config, "operation", ("create", "apply", "update", "delete"), step=STEP)
        if _get(config, "app_name") is None:
            raise ValueError(f"an {STEP} step needs `config.appName` (or `config.app_name`)")
        _flag(config, "cascade", config.get("cascade"))
        if operation not in ("delete", "update") and _get(config, "repo_url") is not None:
            _check(application(config), rendered=False)
        else:
            _sync(config)
        if checks.text(config, "context", step=STEP) is not None:
            checks.text(config, "kubeconfig", step=STEP)
            return
        if config.get("url") is None:
            raise ValueError(
                f"an {STEP} step needs a target: `config.url` (the GitOps repository Argo CD "
                "reads its Applications from) or `config.context` (kubectl); set it once for "
                f"every step of the type with `step_defaults: {{{STEP}: {{url: ...}}}}` in "
                "the configuration"
            )
        gitops_target(config)

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        config = request.config
        try:
            self.validate(config)
            operation = _operation(config, request.operation)
            name = str(_get(config, "app_name"))
            record = _record(request, name)
            previous = _recorded(record)
            target = None if config.get("context") else gitops_target(config)
            if operation == "delete":
                document = self._to_delete(config, name, previous)
            else:
                document = application(config, previous=previous)
                _check(document, rendered=True)
        except ValueError as exc:
            return invalid(log, exc)
        remove = operation == "delete"
        log.write(f"Application {document['metadata']['namespace']}/{name}: {operation}\n")
        if remove and config.get("context") and document.get("spec") is not None:
            # cascade: false with kubectl: drop the finalizer first (server-side apply of the
            # last applied Application without it), so Argo CD leaves the workload running
            kept = await kubectl_run(
                request, [document], str(config["context"]), kubectl=self._kubectl,
                remove=False, log=log,
            )  # fmt: skip
            if kept.status != "succeeded":
                return kept
        result = await deliver_documents(
            request,
            [document],
            factory=self._factory,
            kubectl=self._kubectl,
            remove=remove,
            log=log,
            step=STEP,
            target=target,
        )
        if result.status == "succeeded":
            if remove:
                record.unlink(missing_ok=True)
            else:
                write_record(record, json.dumps(document, sort_keys=True))
            outputs = {**result.outputs, "app_name": name}
            outputs["argocd_namespace"] = str(document["metadata"]["namespace"])
            return replace(result, outputs=outputs)
        return result

    @staticmethod
    def _to_delete(
        config: Mapping[str, Any], name: str, previous: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """What a delete names: the Application's identity; with ``cascade: false`` (kubectl
        only) the last applied Application without the finalizer."""
        namespace = _get(config, "argocd_namespace") or "argocd"
        document: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": name, "namespace": namespace},
        }
        for key, value, pattern in (
            ("appName", name, _SUBDOMAIN),
            ("argocd_namespace", namespace, _LABEL),
        ):
            if not isinstance(value, str) or not re.fullmatch(pattern, value):
                raise ValueError(
                    f"`config.{key}` of an {STEP} step: {value!r} is not a valid Kubernetes name"
                )
        if _flag(config, "cascade", config.get("cascade")) is not False:
            return document
        if not config.get("context"):
            raise ValueError(
                "`config.cascade: false` on delete needs kubectl delivery (`config.context`): "
                "in GitOps mode whether Argo CD deletes what the Application deployed follows "
                "the finalizer written when it was applied (set `cascade: false` there)"
            )
        if previous is None:
            raise ValueError(
                "`config.cascade: false` on delete: no Application was applied by this "
                "resource, so its finalizer cannot be dropped first"
            )
        kept = dict(previous)
        kept["metadata"] = {k: v for k, v in previous["metadata"].items() if k != "finalizers"}
        return kept
