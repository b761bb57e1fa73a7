"""The ``kubernetes`` step: validated manifests delivered the GitOps way or with kubectl.

``config.manifest`` is the rendered manifest: a YAML string (several documents allowed) or the
structure itself (a mapping or a list of mappings; a manifest template arrives as the list of
documents, already filled leaf by leaf by :mod:`reconciler.providers.structured`). Every
document needs ``apiVersion``, ``kind`` and a valid ``metadata.name``. Manifests are always
re-serialised with a safe dumper, so a parameter value inside a structure stays one scalar and
can never add YAML structure.

Delivery:

- **GitOps (default)**: ``url``, ``branch``, ``path`` (and ``token_env``) name a repository;
  each document becomes ``<path>/[<namespace>/]<kind>-<name>.yaml``, committed and pushed
  through :func:`reconciler.executors.gitcommit.deliver` for Argo CD or Flux to apply. A
  ``Secret`` would land in Git in plain text, so it is refused unless ``allow_secrets: true``.
- **kubectl**, when ``config.context`` names a kube context: ``kubectl --context=<ctx> apply
  --server-side --field-manager=innominatus -f -`` (``delete --ignore-not-found -f -``) with
  the manifests on stdin, never in argv or a file.

``config.operation`` is ``apply`` or ``delete``; by default ``delete`` for the resource's delete
operation, ``apply`` otherwise. Called by the engine's runner.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from reconciler import yamlfile
from reconciler.errors import InputError
from reconciler.executors import checks
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.gitcommit import GitTarget, deliver
from reconciler.executors.gitwriter import GitWriterFactory
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.process import run_process, step_environment
from reconciler.executors.results import (
    Deadline,
    cannot_start,
    invalid,
    ok,
    succeeded,
    unfinished,
)
from reconciler.executors.sandbox import confine
from reconciler.executors.workspace import scratch_dir

STEP = "kubernetes"
FIELD_MANAGER = "innominatus"
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")


def _documents(manifest: object) -> list[Any]:
    if isinstance(manifest, str):
        try:
            loaded = yamlfile.load_documents(manifest, file="config.manifest")
        except InputError as exc:
            raise ValueError(f"`config.manifest` of a {STEP} step: {exc}") from exc
        return [document.data for document in loaded if document.data is not None]
    if isinstance(manifest, Mapping):
        return [manifest]
    if isinstance(manifest, Sequence):
        return list(manifest)
    raise ValueError(
        f"`config.manifest` of a {STEP} step must be YAML text, a mapping or a list of mappings"
    )


def _check(document: object, number: int, *, rendered: bool) -> None:
    where = f"`config.manifest` document {number} of a {STEP} step"
    if not isinstance(document, Mapping):
        raise ValueError(f"{where} is not a mapping")
    for key in ("apiVersion", "kind"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise ValueError(f"{where} needs `{key}`")
    metadata = document.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise ValueError(f"{where} needs `metadata.name`")
    for key, value, pattern in (
        ("kind", document["kind"], _KIND),
        ("metadata.name", metadata["name"], _NAME),
        ("metadata.namespace", metadata.get("namespace", "default"), _NAME),
    ):
        if (rendered or not checks.is_template(value)) and not (
            isinstance(value, str) and pattern.fullmatch(value)
        ):
            raise ValueError(
                f"{where}: `{key}` {value!r} is not a valid Kubernetes name (lowercase letters, "
                "digits, '-' and '.')"
            )


def manifests(config: Mapping[str, Any], *, rendered: bool) -> list[Mapping[str, Any]]:
    """The documents of ``config.manifest``, checked (at load, a template string is left for
    run time)."""
    manifest = config.get("manifest")
    if manifest is None:
        raise ValueError(f"a {STEP} step needs `config.manifest`, the manifest to deliver")
    if not rendered and checks.is_template(manifest):
        return []
    documents = _documents(manifest)
    if rendered and not documents:
        raise ValueError(f"`config.manifest` of a {STEP} step holds no document")
    for number, document in enumerate(documents, start=1):
        _check(document, number, rendered=rendered)
    return documents


def file_name(document: Mapping[str, Any]) -> str:
    metadata = document["metadata"]
    name = f"{str(document['kind']).lower()}-{metadata['name']}.yaml"
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def allows_secrets(config: Mapping[str, Any]) -> bool:
    """``allow_secrets``: a real boolean, or the text a template renders one to."""
    value = config.get("allow_secrets")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _holding_secrets(files: Mapping[str, bytes], secrets: Collection[str]) -> list[str]:
    """The files whose text holds a known secret value (4 characters or more)."""
    needles = [s.encode("utf-8") for s in secrets if len(s) >= 4]
    return sorted(name for name, data in files.items() if any(n in data for n in needles))


def _is_secret(document: Mapping[str, Any]) -> bool:
    return document.get("kind") == "Secret" and document.get("apiVersion") == "v1"


class KubernetesExecutor:
    def __init__(self, *, git_writer_factory: GitWriterFactory, kubectl: str = "kubectl") -> None:
        self._factory = git_writer_factory
        self._kubectl = kubectl

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        KubernetesExecutor._check_config(config, rendered=False)

    @staticmethod
    def _check_config(config: Mapping[str, Any], *, rendered: bool) -> list[Mapping[str, Any]]:
        checks.choice(config, "operation", ("apply", "delete"), step=STEP)
        documents = manifests(config, rendered=rendered)
        if checks.text(config, "context", step=STEP) is not None:
            checks.text(config, "kubeconfig", step=STEP)
            return documents
        if config.get("url") is None:
            raise ValueError(
                f"a {STEP} step needs a target: `config.url` (a GitOps repository) or "
                "`config.context` (kubectl); set it in the step, or once for every step of "
                f"the type with `step_defaults: {{{STEP}: {{url: ...}}}}` in the configuration"
            )
        GitTarget.from_config(config, step=STEP)
        if not allows_secrets(config) and any(map(_is_secret, documents)):
            raise ValueError(
                f"a {STEP} step would commit a Secret to Git in plain text; use SealedSecrets "
                "or External Secrets, deliver it with `config.context` (kubectl), or set "
                "`config.allow_secrets: true`"
            )
        return documents

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        config = request.config
        try:
            documents = self._check_config(config, rendered=True)
            names = [file_name(document) for document in documents]
            if len(set(names)) != len(names):
                raise ValueError(f"`config.manifest` of a {STEP} step names an object twice")
        except ValueError as exc:
            return invalid(log, exc)
        default = "delete" if request.operation == "delete" else "apply"
        remove = (config.get("operation") or default) == "delete"
        return await deliver_documents(
            request,
            documents,
            factory=self._factory,
            kubectl=self._kubectl,
            remove=remove,
            log=log,
        )


async def deliver_documents(
    request: StepRequest,
    documents: list[Mapping[str, Any]],
    *,
    factory: GitWriterFactory,
    kubectl: str,
    remove: bool,
    log: LogBuffer,
    step: str = STEP,
    target: GitTarget | None = None,
) -> StepResult:
    """Deliver checked ``documents`` the way ``request.config`` says: a GitOps commit through
    :func:`~reconciler.executors.gitcommit.deliver` unless ``config.context`` names a kube
    context, then ``kubectl`` server-side apply (or delete). Shared with the ``argocd-app``
    step, whose Application goes exactly where a ``kubernetes`` step's manifest would
    (``target``: its GitOps repository, when the step names it with other keys)."""
    config = request.config
    context = config.get("context")
    if context is None:
        target = target or GitTarget.from_config(config, step=step)
        files = {
            file_name(document): yamlfile.dump(document).encode("utf-8") for document in documents
        }
        holding = _holding_secrets(files, request.secrets)
        if holding and not allows_secrets(config):
            return invalid(
                log,
                ValueError(
                    f"{checks.a(step)} would commit a known secret value to Git in plain text "
                    f"({', '.join(holding)}); put it in a Secret delivered with "
                    "`config.context` (kubectl), use SealedSecrets or External Secrets, or "
                    "set `config.allow_secrets: true`"
                ),
            )
        return await deliver(factory, request, target, files, remove=remove, log=log)
    return await kubectl_run(request, documents, context, kubectl=kubectl, remove=remove, log=log)


async def kubectl_run(
    request: StepRequest,
    documents: list[Mapping[str, Any]],
    context: str,
    *,
    kubectl: str,
    remove: bool,
    log: LogBuffer,
) -> StepResult:
    """``kubectl --context=<context> apply --server-side`` (or ``delete --ignore-not-found``)
    of ``documents`` on stdin."""
    argv = [kubectl, f"--context={context}"]
    kubeconfig = request.config.get("kubeconfig")
    if kubeconfig is not None:
        argv.append(f"--kubeconfig={kubeconfig}")
    if remove:
        argv += ["delete", "--ignore-not-found", "-f", "-"]
    else:
        argv += ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-"]
    stdin = "".join(f"---\n{yamlfile.dump(document)}" for document in documents)
    deadline = Deadline(request.timeout)
    log.write(f"kubectl {' '.join(argv[2:])} ({len(documents)} document(s))\n")
    try:
        finished = await run_process(
            argv,
            env=step_environment(request, outputs_file=scratch_dir(request) / "outputs"),
            cwd=request.workdir,
            timeout=deadline.remaining(),
            log=log,
            on_process=request.on_process,
            stdin=stdin.encode("utf-8"),
            sandbox=confine(request),
        )
    except OSError as exc:
        return cannot_start(log, kubectl, exc)
    if not ok(finished):
        return unfinished(finished, log, deadline, "kubectl")
    return succeeded(log, {"documents": str(len(documents))})
