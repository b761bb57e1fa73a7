"""The ``gitea-repo`` step: a repository in Gitea (or Forgejo, which keeps Gitea's API) created,
updated or deleted through the HTTP API, in the daemon's process (httpx, bounded by the step's
timeout and per-request timeouts).

Config (the original innominatus' keys): ``gitea_url`` (the server, http or https),
``org_name`` (the organisation; without it the repository belongs to the token's user),
``repo_name``, ``description``, ``private``, ``auto_init``, ``default_branch`` (create only),
``token_env`` (required: the *name* of the environment variable holding the API token; only
names the platform allows, ``step_token_envs`` or ``step_defaults``, can be read — usually set
once with ``step_defaults: {gitea-repo: {token_env: GITEA_TOKEN}}``), ``operation``
(``create``/``update``/``delete``, default the resource's operation).

Ownership: a repository this resource created carries the topic ``innominatus-<12 hex>``
(:func:`ownership_topic`, from the resource UID; Gitea topics are at most 25 lowercase
characters in old releases, so the UID itself cannot be the topic). An existing repository with
that topic is adopted (its description and visibility brought to the config); any other
existing repository is refused, and so is deleting one: innominatus never takes over or deletes
a repository it did not create. A create interrupted between the repository and its topic is
finished on retry (the state dir remembers the create was started).

Outputs: ``clone_url``, ``html_url``, ``ssh_url``, ``repo_id``, ``full_name``, ``repo_name``,
``org_name``, ``status`` (created, adopted, updated, deleted, absent). The token is sent only
as ``Authorization: token ...`` to ``gitea_url`` and is masked in the log and every error.
Called by the engine's runner; the token comes from the runtime (``step_tokens``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from reconciler.errors import InnominatusError
from reconciler.executors import checks
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.outputs import RECORD_LIMIT, read_step_file, write_record
from reconciler.executors.results import Deadline, failed, invalid, succeeded, timed_out

STEP = "gitea-repo"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_FLAGS = ("private", "auto_init")


class StepTokens(Protocol):
    """The runtime's reading of a token variable a step names (executors never read the
    environment). Raises :class:`~reconciler.errors.ConfigError` for a name the platform does
    not let steps read, or a variable that is unset."""

    def __call__(self, name: str) -> str: ...


class GiteaError(Exception):
    """An answer that ends the step; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def ownership_topic(resource_uid: str) -> str:
    """The topic marking a repository as created by the resource ``resource_uid``."""
    return "innominatus-" + hashlib.sha256(resource_uid.encode("utf-8")).hexdigest()[:12]


def _flag(config: Mapping[str, Any], key: str) -> bool | None:
    value = config.get(key)
    if value is None or value == "" or checks.is_template(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"`config.{key}` of a {STEP} step must be true or false; got {value!r}")


def _name(config: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = checks.text(config, key, step=STEP, required=required)
    if (
        value is not None
        and not checks.is_template(value)
        and (not _NAME.fullmatch(value) or value in (".", ".."))
    ):
        raise ValueError(
            f"`config.{key}` of a {STEP} step must be a Gitea name (letters, digits, "
            f"'-', '_', '.'); got {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class RepoConfig:
    base: str
    owner: str | None
    name: str
    token_env: str
    operation: str
    description: str | None
    private: bool | None
    auto_init: bool
    default_branch: str | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, operation: str) -> RepoConfig:
        url = checks.text(config, "gitea_url", step=STEP, required=True)
        assert url is not None
        if not checks.is_template(url):
            split = urlsplit(url)
            if split.scheme not in ("http", "https") or not split.hostname:
                raise ValueError(f"`config.gitea_url` of a {STEP} step must be http(s)://host")
            if split.username or split.password or split.query or split.fragment:
                raise ValueError(
                    f"`config.gitea_url` of a {STEP} step is the server's base URL, without "
                    "credentials, query or fragment (the token comes from `config.token_env`)"
                )
        token_env = checks.text(config, "token_env", step=STEP)
        if token_env is None:
            raise ValueError(
                f"a {STEP} step needs `config.token_env`, the environment variable holding the "
                f"API token; set it once with `step_defaults: {{{STEP}: {{token_env: "
                "GITEA_TOKEN}}` (a name given there may be read; any other must be listed "
                "in `step_token_envs`)"
            )
        if not token_env.replace("_", "a").isalnum():
            raise ValueError(
                f"`config.token_env` of a {STEP} step names an environment variable "
                f"(letters, digits, _); got {token_env!r}"
            )
        value = config.get("operation") or operation
        if not checks.is_template(value) and value not in ("create", "update", "delete"):
            raise ValueError(
                f"`config.operation` of a {STEP} step must be create, update or delete; "
                f"got {value!r}"
            )
        description = config.get("description")
        if description is not None and not isinstance(description, str):
            raise ValueError(f"`config.description` of a {STEP} step must be text")
        return cls(
            base=url.rstrip("/"),
            owner=_name(config, "org_name", required=False),
            name=_name(config, "repo_name", required=True) or "",
            token_env=token_env,
            operation=str(value),
            description=description,
            private=_flag(config, "private"),
            auto_init=_flag(config, "auto_init") or False,
            default_branch=checks.text(config, "default_branch", step=STEP),
        )


def _record(request: StepRequest, repo: str) -> Path:
    digest = hashlib.sha256(repo.encode("utf-8")).hexdigest()[:16]
    return request.state_dir / f"gitea-repo-{digest}.json"


class _Api:
    """The few Gitea API calls the step makes, each logged as method, path and status."""

    def __init__(self, client: httpx.AsyncClient, base: str, log: LogBuffer) -> None:
        self._client = client
        self._base = base
        self._log = log

    async def call(self, method: str, path: str, body: object = None) -> httpx.Response:
        try:
            response = await self._client.request(method, f"{self._base}/api/v1{path}", json=body)
        except httpx.HTTPError as exc:
            raise GiteaError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        self._log.write(f"{method} /api/v1{path} -> {response.status_code}\n")
        return response

    @staticmethod
    def refuse(response: httpx.Response, what: str) -> GiteaError:
        detail = ""
        try:
            document = response.json()
            if isinstance(document, Mapping):
                detail = f": {document.get('message', '')}".rstrip(": ")
        except ValueError:
            pass
        status = response.status_code
        permanent = status in (400, 401, 403, 404, 409, 422)
        hint = {
            401: " (the token is not valid; check the variable `config.token_env` names)",
            403: " (the token's user may not do this)",
        }.get(status, "")
        return GiteaError(f"{what}: HTTP {status}{detail}{hint}", permanent=permanent)


class GiteaRepoExecutor:
    def __init__(
        self, *, step_tokens: StepTokens, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._tokens = step_tokens
        self._transport = transport

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        RepoConfig.from_config(config, operation="create")

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        try:
            repo = RepoConfig.from_config(request.config, operation=request.operation)
        except ValueError as exc:
            return invalid(log, exc)
        try:
            token = self._tokens(repo.token_env)
        except (InnominatusError, ValueError) as exc:
            return replace(failed(log, f"{STEP} step: {exc}"), permanent=True)
        log = LogBuffer(limit=log_limit, secrets=request.secrets | {token}, sink=on_log)
        deadline = Deadline(request.timeout)
        headers = {"Authorization": f"token {token}", "Accept": "application/json"}
        try:
            async with (
                asyncio.timeout(deadline.remaining()),
                httpx.AsyncClient(
                    transport=self._transport, trust_env=False, timeout=TIMEOUT, headers=headers
                ) as client,
            ):
                api = _Api(client, repo.base, log)
                outputs = await self._run(api, repo, request, log)
        except TimeoutError:
            return timed_out(log, deadline.timeout)
        except GiteaError as exc:
            result = failed(log, f"{STEP} step: {log.mask(str(exc))}")
            return replace(result, permanent=exc.permanent)
        return succeeded(log, outputs)

    async def _run(
        self, api: _Api, repo: RepoConfig, request: StepRequest, log: LogBuffer
    ) -> dict[str, str]:
        owner = repo.owner or await self._user(api)
        path = f"/repos/{quote(owner, safe='')}/{quote(repo.name, safe='')}"
        full = f"{owner}/{repo.name}"
        topic = ownership_topic(request.resource_uid)
        record = _record(request, full)
        response = await api.call("GET", path)
        if response.status_code == 404:
            if repo.operation == "delete":
                log.write(f"repository {full} does not exist; nothing to delete\n")
                return {"full_name": full, "repo_name": repo.name, "org_name": owner,
                        "status": "absent"}  # fmt: skip
            return await self._create(api, repo, owner=owner, path=path, record=record, topic=topic)
        if response.status_code != 200:
            raise api.refuse(response, f"reading repository {full}")
        existing = response.json()
        if not await self._owned(api, path, topic, record):
            raise GiteaError(
                f"repository {full} exists and was not created by this resource (it has no "
                f"topic {topic}); innominatus neither takes over nor deletes a repository it "
                "did not create: choose another repo_name, or add the topic to the repository "
                "to hand it to this resource",
                permanent=True,
            )
        if repo.operation == "delete":
            deleted = await api.call("DELETE", path)
            if deleted.status_code not in (204, 404):
                raise api.refuse(deleted, f"deleting repository {full}")
            record.unlink(missing_ok=True)
            log.write(f"deleted repository {full}\n")
            return {**_outputs(existing, owner, repo.name), "status": "deleted"}
        changes: dict[str, Any] = {}
        if repo.description is not None and existing.get("description") != repo.description:
            changes["description"] = repo.description
        if repo.private is not None and existing.get("private") != repo.private:
            changes["private"] = repo.private
        status = "adopted"
        if changes:
            patched = await api.call("PATCH", path, changes)
            if patched.status_code != 200:
                raise api.refuse(patched, f"updating repository {full}")
            existing, status = patched.json(), "updated"
            log.write(f"updated {', '.join(sorted(changes))} of repository {full}\n")
        return {**_outputs(existing, owner, repo.name), "status": status}

    @staticmethod
    async def _user(api: _Api) -> str:
        response = await api.call("GET", "/user")
        if response.status_code != 200:
            raise api.refuse(response, "reading the token's user (no `config.org_name`)")
        login = response.json().get("login")
        if not isinstance(login, str) or not login:
            raise GiteaError("the server's /user answer has no login")
        return login

    @staticmethod
    async def _owned(api: _Api, path: str, topic: str, record: Path) -> bool:
        response = await api.call("GET", f"{path}/topics")
        if response.status_code != 200:
            raise api.refuse(response, "reading the repository's topics")
        topics = response.json().get("topics") or []
        if topic in topics:
            return True
        if _started(record):  # our create was interrupted before the topic was set
            await GiteaRepoExecutor._mark(api, path, topic)
            return True
        return False

    @staticmethod
    async def _mark(api: _Api, path: str, topic: str) -> None:
        response = await api.call("PUT", f"{path}/topics/{topic}")
        if response.status_code not in (200, 204):
            raise api.refuse(response, f"marking the repository with topic {topic}")

    async def _create(
        self, api: _Api, repo: RepoConfig, *, owner: str, path: str, topic: str, record: Path
    ) -> dict[str, str]:
        if repo.operation == "update":
            raise GiteaError(f"repository {owner}/{repo.name} does not exist, so cannot be updated")
        body: dict[str, Any] = {"name": repo.name, "auto_init": repo.auto_init}
        if repo.description is not None:
            body["description"] = repo.description
        if repo.private is not None:
            body["private"] = repo.private
        if repo.default_branch:
            body["default_branch"] = repo.default_branch
        where = f"/orgs/{quote(owner, safe='')}/repos" if repo.owner else "/user/repos"
        write_record(record, json.dumps({"creating": f"{owner}/{repo.name}"}))
        response = await api.call("POST", where, body)
        if response.status_code != 201:
            record.unlink(missing_ok=True)  # nothing was created: no claim on the name
        if response.status_code == 409:  # created by someone else in the meantime
            raise GiteaError(
                f"repository {owner}/{repo.name} was created by someone else meanwhile",
                permanent=True,
            )
        if response.status_code != 201:
            raise api.refuse(response, f"creating repository {owner}/{repo.name}")
        await self._mark(api, path, topic)
        write_record(record, json.dumps({"created": f"{owner}/{repo.name}"}))
        return {**_outputs(response.json(), owner, repo.name), "status": "created"}


def _started(record: Path) -> bool:
    try:
        return "creating" in json.loads(
            read_step_file(record, what="record", limit=RECORD_LIMIT) or ""
        )
    except (OSError, ValueError, TypeError):
        return False


def _outputs(document: Mapping[str, Any], owner: str, name: str) -> dict[str, str]:
    return {
        "clone_url": str(document.get("clone_url") or ""),
        "html_url": str(document.get("html_url") or ""),
        "ssh_url": str(document.get("ssh_url") or ""),
        "repo_id": str(document.get("id") or ""),
        "full_name": str(document.get("full_name") or f"{owner}/{name}"),
        "repo_name": name,
        "org_name": owner,
    }
