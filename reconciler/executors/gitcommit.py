"""The ``git-commit`` step: rendered files written under a path of a target repository and
pushed — the Kratix-style "state store" write that Argo CD or Flux then applies.

Config: ``url``, ``branch`` (default ``main``), ``path`` (folder in that repository, default
its root), ``files`` (``{relative path: content}``; a mapping or list content is serialised as
YAML or JSON by the file's extension, so values can never add structure; templated names and
string contents arrive rendered by :mod:`reconciler.providers.contexts` — each value one path
component, ``.yaml``/``.json`` content filled leaf by leaf), optional
``token_env`` (name of the variable holding the push token; the runtime reads it). The push
goes through the :class:`~reconciler.executors.gitwriter.GitWriter` the runtime provides:
fast-forward only, retried on rejection, no commit when nothing changed.

Which files a resource owns is remembered in its ``INNOMINATUS_STATE_DIR``, per target: an
update removes the files it no longer renders, the ``delete`` operation removes them all.
:func:`deliver` is shared with the ``kubernetes`` step's GitOps mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from reconciler import yamlfile
from reconciler.errors import InnominatusError
from reconciler.executors import checks
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.gitwriter import GitWriterFactory
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.outputs import RECORD_LIMIT, read_step_file, write_record
from reconciler.executors.results import Deadline, failed, invalid, succeeded, timed_out

STEP = "git-commit"


@dataclass(frozen=True, slots=True)
class GitTarget:
    """Where a step's files go: ``path`` inside ``branch`` of the repository at ``url``."""

    url: str
    branch: str
    path: PurePosixPath
    token_env: str | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, step: str) -> GitTarget:
        url = checks.text(config, "url", step=step, required=True)
        branch = checks.text(config, "branch", step=step) or "main"
        path = checks.optional_relative_path(config, "path", step=step)
        token_env = checks.text(config, "token_env", step=step)
        if token_env is not None and not token_env.replace("_", "a").isalnum():
            raise ValueError(
                f"`config.token_env` of {checks.a(step)} names an environment variable "
                f"(letters, digits, _); got {token_env!r}"
            )
        assert url is not None
        return cls(url, branch, path or PurePosixPath(), token_env)

    def display(self) -> str:
        """The target for logs: URL without userinfo, branch and folder."""
        split = urlsplit(self.url)
        host = split.netloc.rpartition("@")[2]
        url = urlunsplit(split._replace(netloc=host)) if split.netloc else self.url
        return f"{url} branch {self.branch} path {self.path.as_posix() or '/'}"


def _serialise(name: str, content: object) -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8")
    if name.endswith(".json"):
        return (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if name.endswith((".yaml", ".yml")):
        return yamlfile.dump(content).encode("utf-8")
    raise ValueError(
        f"file {name!r} of a {STEP} step is not text; give a string, or name it .yaml/.json "
        "to have a mapping or list serialised"
    )


def rendered_files(config: Mapping[str, Any]) -> dict[str, bytes]:
    files = checks.mapping(config, "files", step=STEP)
    if not files:
        raise ValueError("a git-commit step needs `config.files`, {path: content} to commit")
    result: dict[str, bytes] = {}
    for name, content in files.items():
        if not checks.is_template(name):
            checks.relative_path(name, key=f"files.{name}", step=STEP)
        result[name] = _serialise(name, content)
    return result


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _record(request: StepRequest, target: GitTarget) -> Path:
    """What this step of the resource wrote to ``target``: one record per step, so a workflow
    with several steps writing to one repository (the corpus' namespace, quota and network
    policy) does not have each step prune the files of the one before."""
    prefix = _digest(target.url, target.branch, target.path.as_posix())
    return request.state_dir / f"git-{prefix}-{_digest(request.step_name)}.json"


def _records(request: StepRequest, target: GitTarget) -> list[Path]:
    """Every record of the resource for ``target`` (each step's, and one written before
    records were kept per step): a delete removes all their files."""
    prefix = _digest(target.url, target.branch, target.path.as_posix())
    return sorted(request.state_dir.glob(f"git-{prefix}*.json"))


def _owned(record: Path) -> set[str]:
    """The paths this resource wrote to a target last time (none if never, or unreadable)."""
    try:
        paths = json.loads(read_step_file(record, what="record", limit=RECORD_LIMIT) or "")["paths"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return {path for path in paths if isinstance(path, str)}


async def deliver(
    factory: GitWriterFactory,
    request: StepRequest,
    target: GitTarget,
    files: Mapping[str, bytes],
    *,
    remove: bool,
    log: LogBuffer,
) -> StepResult:
    """Commit ``files`` (relative to ``target.path``) or, with ``remove``, delete them and
    every file this resource wrote there before; push; remember what the resource owns."""
    deadline = Deadline(request.timeout)
    wanted = {(target.path / name).as_posix(): data for name, data in files.items()}
    record = _record(request, target)
    owned = _owned(record)
    if remove:
        owned = set().union(*(_owned(path) for path in _records(request, target)))
    changes: dict[str, bytes | None] = {path: None for path in owned - set(wanted)}
    if remove:
        changes |= dict.fromkeys(wanted)
    else:
        changes |= wanted
    message = (
        f"innominatus: {request.operation} {request.resource_uid}\n\n"
        f"execution {request.execution_id}, step {request.step_name}"
    )
    log.write(
        f"{'removing' if remove else 'writing'} {len(wanted)} file(s) at {target.display()}\n"
    )
    try:
        writer = factory(url=target.url, branch=target.branch, token_env=target.token_env)
        async with asyncio.timeout(deadline.remaining()):
            sha = await asyncio.to_thread(
                writer.write_files, branch=target.branch, files=changes, message=message
            )
    except TimeoutError:
        return timed_out(log, deadline.timeout)
    except (InnominatusError, ValueError, OSError) as exc:
        return failed(log, f"commit to {target.display()} failed: {log.mask(str(exc))}")
    log.write(f"pushed commit {sha}\n" if sha else "nothing changed; no commit\n")
    if remove:
        for path in _records(request, target):
            path.unlink(missing_ok=True)
    else:
        write_record(record, json.dumps({"paths": sorted(wanted)}))
    return succeeded(
        log,
        {
            "commit": sha or "",
            "changed": "true" if sha else "false",
            "path": target.path.as_posix(),
        },
    )


class GitCommitExecutor:
    def __init__(self, *, git_writer_factory: GitWriterFactory) -> None:
        self._factory = git_writer_factory

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        GitTarget.from_config(config, step=STEP)
        rendered_files(config)

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        try:
            target = GitTarget.from_config(request.config, step=STEP)
            files = rendered_files(request.config)
            for name in files:
                checks.relative_path(name, key=f"files.{name}", step=STEP)
        except ValueError as exc:
            return invalid(log, exc)
        return await deliver(
            self._factory,
            request,
            target,
            files,
            remove=request.operation == "delete",
            log=log,
        )
