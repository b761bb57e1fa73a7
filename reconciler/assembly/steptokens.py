"""The tokens steps may read: the ``step_tokens`` collaborator of the ``gitea-repo`` step.

A step names the environment variable holding its API token (``config.token_env``); only the
runtime reads the environment (CONVENTIONS 5), and only the variables the platform lets steps
read — ``step_token_envs`` plus those ``step_defaults`` name, the same allow-list the
``git-commit``/``kubernetes`` steps' push tokens go through — since a provider could otherwise
send any of the daemon's variables to a server of its choosing. Built by ``runtime.build``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from reconciler.errors import ConfigError


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
