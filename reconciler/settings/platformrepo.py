"""The ``platform:`` group: where the platform repository is, whose file carries the
provider set (read by :mod:`reconciler.settings.platform`, followed by the runtime)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import field_validator

from reconciler.settings.values import Duration, Group


class PlatformStatusSettings(Group):
    enabled: bool = True
    """Write the outcome back to Git (default true)."""
    branch: str = "innominatus-status"
    """Branch holding ``platform.yaml`` (which commit's set runs, or why the newest was
    refused); created as an orphan branch if missing."""


PLATFORM = "platform"
"""The name the platform repository goes by in logs, metrics, the API and the database."""


class PlatformSettings(Group):
    """The platform repository: a Git repository whose ``path`` file holds ``providers:`` and
    ``step_defaults:`` (the schema of those keys here), reconciled like an app repository."""

    repository: str
    """Local path, file://, https://, ssh:// or git@ URL (never with credentials in it)."""
    branch: str = "main"
    path: str = "platform.yaml"
    """The file in the repository (default ``platform.yaml``)."""
    interval: Duration = 60.0
    """Poll interval (default 60s, with jitter); local paths are also watched."""
    watch: bool = True
    """For a local repository: react to new commits at once by watching the folder."""
    token_env: str | None = None
    """Env var holding an HTTPS token (sent as a header, never in the URL)."""
    ssh_key: Path | None = None
    """Private key file for ssh:// and git@ URLs."""
    token_envs: tuple[str, ...] = ()
    """Env vars the file's git providers may name as their ``token_env`` (a commit could
    otherwise send any of the daemon's variables to a server of its choosing)."""
    status: PlatformStatusSettings = PlatformStatusSettings()

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]*@", value):
            raise ValueError("the URL holds a password; remove it and set token_env instead")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parts = value.split("/")
        if value.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError("name a file inside the repository, e.g. platform.yaml")
        return value
