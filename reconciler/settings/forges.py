"""Commit statuses on the forge (``repositories[].commit_status``): which forge, where its API is,
which project, which token."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from reconciler.errors import ConfigError
from reconciler.settings.values import Duration, Group

Forge = Literal["github", "gitlab", "gitea", "forgejo", "bitbucket"]
_SCP_URL = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")
_OWNER_REPO = re.compile(r"^[^/\s]+/[^/\s]+$")


def forge_location(url: str) -> tuple[str, str] | None:
    """(host with port, project path) of a repository URL on a forge: ``https://host/o/r.git``,
    ``ssh://git@host:22/o/r``, ``git@host:o/r.git``; None for a local path or ``file://``.
    An SSH port names the SSH service, not the forge's web API, so it is dropped."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", url):
        scheme, _, rest = url.partition("://")
        if scheme == "file":
            return None
        authority, _, path = rest.partition("/")
        host = authority.rpartition("@")[2]
        if scheme.startswith("ssh") or scheme == "git":
            host = host.partition(":")[0]
    else:
        scp = _SCP_URL.match(url)
        if scp is None or "/" in scp.group("host"):
            return None
        host, path = scp.group("host"), scp.group("path")
    path = path.strip("/").removesuffix(".git")
    return (host.lower(), path) if host and path else None


class CommitStatusSettings(Group):
    """Commit statuses on the forge (Atlantis, Flux's notification controller): the daemon
    marks the source commit of each pass ``pending``, ``success`` or ``failure`` (with the
    first problem) through the forge's HTTP API. Off unless the group is given."""

    forge: Forge
    """``github``, ``gitlab``, ``gitea``, ``forgejo`` or ``bitbucket`` (Bitbucket Cloud)."""
    token_env: str
    """Env var holding the API token (sent as a header only; never logged). Bitbucket:
    an access token, or ``user:app-password`` for basic authentication."""
    api_url: str | None = None
    """Base URL of the forge's API. Default from the repository URL's host:
    https://api.github.com for github.com (https://HOST/api/v3 for GitHub Enterprise),
    https://HOST/api/v4 for GitLab, https://HOST/api/v1 for Gitea and Forgejo,
    https://api.bitbucket.org/2.0 for Bitbucket."""
    project: str | None = None
    """``owner/repo`` (GitLab: ``group/subgroup/project``; Bitbucket: ``workspace/slug``).
    Default: the repository URL's path."""
    context: str = Field(default="innominatus/reconcile", min_length=1, max_length=40)
    """The status's name on the commit (GitHub and Gitea ``context``, GitLab ``name``,
    Bitbucket ``name`` and ``key``)."""
    target_url: str | None = None
    """Link shown with the status (e.g. the dashboard's public URL). Default: none;
    Bitbucket, which requires one, links the commit's page."""
    timeout: Duration = Field(default=10.0, gt=0)
    """Seconds one request to the forge may take (default 10s)."""

    @field_validator("api_url", "target_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s@]+(/\S*)?$", value):
            raise ValueError(f"{value!r} is not an http(s) URL without credentials")
        return value.rstrip("/") if value is not None else None

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    def target(self, repository_url: str) -> tuple[str, str]:
        """(API base URL, project) for a repository at ``repository_url``: the settings,
        or derived from the URL. A ValueError saying what to set when neither gives one."""
        location = forge_location(repository_url)
        project = self.project or (location[1] if location is not None else None)
        api_url = self.api_url
        if api_url is None and location is not None:
            host = location[0]
            api_url = {
                "github": "https://api.github.com"
                if host == "github.com"
                else f"https://{host}/api/v3",
                "gitlab": f"https://{host}/api/v4",
                "gitea": f"https://{host}/api/v1",
                "forgejo": f"https://{host}/api/v1",
                "bitbucket": "https://api.bitbucket.org/2.0",
            }[self.forge]
        if api_url is None or project is None:
            raise ValueError(
                "commit_status: the repository URL is a local path, so the forge cannot be "
                "derived from it; set commit_status.api_url and commit_status.project "
                "(owner/repo)"
            )
        if any(part in ("", ".", "..") for part in project.split("/")):
            raise ValueError(
                f"commit_status: {project!r} has an empty, '.' or '..' segment, which would "
                "lead the forge's API elsewhere; set commit_status.project"
            )
        if self.forge != "gitlab" and not _OWNER_REPO.match(project):
            raise ValueError(
                f"commit_status: {self.forge} needs the project as owner/repo, got "
                f"{project!r}; set commit_status.project"
            )
        return api_url, project

    def token(self, environ: Mapping[str, str], *, repository: str) -> str:
        """The API token from the environment; a ConfigError naming the variable (never its
        value) when it is unset or empty."""
        value = environ.get(self.token_env, "").strip()
        if not value:
            raise ConfigError(
                f"repositories.{repository}.commit_status.token_env: environment variable "
                f"{self.token_env} is not set or empty; export the forge's API token there, "
                "or remove commit_status"
            )
        return value
