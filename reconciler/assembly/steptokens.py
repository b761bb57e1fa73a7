"""The tokens steps may read: the ``step_tokens`` collaborator of the ``gitea-repo`` step.

A step names the environment variable holding its API token (``config.token_env``); only the
runtime reads the environment (CONVENTIONS 5), and only the variables the platform lets steps
read — ``step_token_envs`` plus those ``step_defaults`` name, the same allow-list the
``git-commit``/``kubernetes`` steps' push tokens go through (:class:`MirrorWriters`, their
mirrors of target repositories) — since a provider could otherwise send any of the daemon's
variables to a server of its choosing. Built by ``runtime.build``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Collection, Mapping
from pathlib import Path

from reconciler.errors import ConfigError, SourceError
from reconciler.settings import Settings
from reconciler.sources.git import GitMirror


class EnvironmentTokens:
    def __init__(self, *, allowed: Collection[str], environ: Mapping[str, str]) -> None:
        self._allowed = frozenset(allowed)
        self._environ = environ

    def __call__(self, name: str) -> str:
        if name not in self._allowed:
            raise ConfigError(
                f"the step's token_env names {name}, which the platform does not let steps "
                "read; add it to step_token_envs in the daemon's config if it is meant for this"
            )
        token = self._environ.get(name, "").strip()
        if not token:
            raise ConfigError(
                f"environment variable {name} (the step's token_env) is not set; export it "
                "for the daemon"
            )
        return token


class MirrorWriters:
    """The ``git-commit``/``kubernetes`` steps' Git access: one long-lived mirror per target
    repository, branch and token variable (``reconciler.sources.GitMirror`` pushes
    fast-forward only, re-fetching and retrying when rejected)."""

    def __init__(self, *, data_dir: Path, token_envs: Collection[str] = ()) -> None:
        self._data_dir = data_dir
        self._token_envs = frozenset(token_envs)
        self._mirrors: dict[tuple[str, str, str | None], GitMirror] = {}
        self._lock = threading.Lock()

    def __call__(self, *, url: str, branch: str, token_env: str | None) -> GitMirror:
        if token_env and token_env not in self._token_envs:
            raise ConfigError(
                f"the step's token_env names {token_env}, which the platform does not let "
                "steps read; add it to step_token_envs in the daemon's config if it is meant "
                "for this"
            )
        key = (url, branch, token_env)
        with self._lock:
            mirror = self._mirrors.get(key)
            if mirror is None:
                name = "target-" + hashlib.sha256(repr(key).encode()).hexdigest()[:16]
                token = os.environ.get(token_env) if token_env else None
                if token_env and not token:
                    raise ConfigError(
                        f"environment variable {token_env} (the step's token_env) is not set; "
                        "export it for the daemon"
                    )
                mirror = GitMirror(
                    name=name, url=url, branch=branch, data_dir=self._data_dir, token=token
                )
                with contextlib.suppress(SourceError):
                    mirror.fetch()  # a new branch is created by the first write
                self._mirrors[key] = mirror
            return mirror


def step_token_envs(settings: Settings) -> frozenset[str]:
    """The variables steps may name as ``token_env``: the allow-list, plus those the platform
    itself set in ``step_defaults``."""
    defaults = {
        value
        for config in settings.step_defaults.values()
        if isinstance(value := config.get("token_env"), str)
    }
    return frozenset(settings.step_token_envs) | defaults
