"""Finding and reading the configuration file: :func:`find_config` (the one rule every command
shares with the daemon) and :func:`load_settings` (file plus environment, errors as
``file:line``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from reconciler.errors import ConfigError, InputError
from reconciler.settings.model import Settings
from reconciler.yamlfile import Document, load_documents


def _relative_to(base: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Resolve relative paths of the file against the file's folder."""
    out = dict(data)
    for key in ("data_dir",):
        if isinstance(out.get(key), str) and not Path(out[key]).is_absolute():
            out[key] = str((base / out[key]).resolve())
    db = out.get("database")
    if isinstance(db, str) and db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
        rel = db.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            out["database"] = f"sqlite:///{(base / rel).resolve()}"
    platform = out.get("platform")
    if isinstance(platform, dict):
        platform = dict(platform)
        for key in ("repository", "ssh_key"):
            value = platform.get(key)
            if isinstance(value, str) and _local_relative(value):
                platform[key] = str((base / value).resolve())
        out["platform"] = platform
    for group in ("repositories", "providers"):
        items = out.get(group)
        if not isinstance(items, list):
            continue
        fixed = []
        for item in items:
            entry = dict(item) if isinstance(item, dict) else item
            if isinstance(entry, dict):
                for key in ("url", "path", "repository", "keyring", "ssh_key"):
                    value = entry.get(key)
                    if key == "path" and entry.get("type") == "git":
                        continue  # a folder inside the provider repository, not on this disk
                    if isinstance(value, str) and _local_relative(value):
                        entry[key] = str((base / value).resolve())
                parameters = entry.get("parameters")
                if isinstance(parameters, dict):
                    entry["parameters"] = {
                        name: (
                            str((base / value).resolve())
                            if isinstance(value, str)
                            and name.endswith(_PATH_SUFFIXES)
                            and _local_relative(value)
                            else value
                        )
                        for name, value in parameters.items()
                    }
            fixed.append(entry)
        out[group] = fixed
    return out


_PATH_SUFFIXES = ("_file", "_path", "_dir")
"""Installation parameters named like this hold paths, resolved against the config's folder."""


def _local_relative(value: str) -> bool:
    """A relative local path (``apps``, ``./apps``, ``../x``), not a URL (``https://``,
    ``file://``), an scp-style address (``git@host:repo``) or an absolute path."""
    if not value or Path(value).is_absolute() or re.match(r"^[a-z][a-z0-9+.-]*://", value):
        return False
    head = value.split("/", 1)[0]
    return ":" not in head


CONFIG_ENV = "INNOMINATUS_CONFIG"
LOCAL_CONFIG = Path("innominatus.yaml")
"""Looked for in the current directory when neither ``--config`` nor the variable is given."""
SYSTEM_CONFIG = Path("/etc/innominatus/config.yaml")
"""Looked for last: where the container image and packages put the daemon's configuration."""


@dataclass(frozen=True)
class ConfigLocation:
    """Which configuration file applies, and why: what commands say when they cannot find
    the state they were asked about."""

    path: Path | None
    """The file; None when none was found (the built-in defaults apply)."""
    origin: str
    """How it was chosen: ``--config``, ``INNOMINATUS_CONFIG``, ``./innominatus.yaml``,
    ``/etc/innominatus/config.yaml``, or ``defaults``."""

    def describe(self) -> str:
        """``cfg.yaml (from --config)``, or what was looked for when nothing was found."""
        if self.path is None:
            return (
                f"no configuration file ({CONFIG_ENV} is unset, and neither ./{LOCAL_CONFIG} "
                f"nor {SYSTEM_CONFIG} exists): the built-in defaults"
            )
        how = {
            "--config": "from --config",
            CONFIG_ENV: f"from {CONFIG_ENV}",
            f"./{LOCAL_CONFIG}": "found in the current directory",
        }.get(self.origin, "the system-wide default")
        return f"{self.path} ({how})"


def find_config(
    explicit: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    system: Path = SYSTEM_CONFIG,
) -> ConfigLocation:
    """The configuration file the daemon and every command use: ``explicit`` (``--config``),
    else ``$INNOMINATUS_CONFIG``, else ``./innominatus.yaml``, else
    ``/etc/innominatus/config.yaml``, else none (the defaults). A file named explicitly or by
    the variable is used even when it is missing (loading it then says so); the two default
    places count only when they exist, so a command never guesses silently."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        return ConfigLocation(explicit, "--config")
    if env.get(CONFIG_ENV):
        return ConfigLocation(Path(env[CONFIG_ENV]), CONFIG_ENV)
    local = (cwd or Path()) / LOCAL_CONFIG
    if local.is_file():
        return ConfigLocation(local if cwd is not None else LOCAL_CONFIG, f"./{LOCAL_CONFIG}")
    if system.is_file():
        return ConfigLocation(system, str(system))
    return ConfigLocation(None, "defaults")


def load_settings(path: Path | None = None, *, environ: dict[str, str] | None = None) -> Settings:
    """Read ``path`` (or the file :func:`find_config` finds, or nothing) and the environment.

    Relative paths in the file are taken relative to the file's folder, so a config works from
    any current directory. Raises :class:`ConfigError` naming the file, line and key.
    """
    path = find_config(path, environ=environ).path
    data: dict[str, Any] = {}
    document = None
    if path is not None:
        try:
            text = path.read_bytes()
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{path}: config file not found; pass an existing file to --config "
                "or unset INNOMINATUS_CONFIG to run on the defaults"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
        try:
            documents = load_documents(text, file=str(path))
        except InputError as exc:
            raise ConfigError(exc.message) from exc
        if documents:
            document = documents[0]
            if document.data is None:
                document = None
            elif not isinstance(document.data, dict):
                raise ConfigError(f"{path}:1: the config must be a mapping of keys to values")
            else:
                data = _relative_to(path.resolve().parent, document.data)
    try:
        if environ is None:
            return Settings(**data)
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(environ)
        try:
            return Settings(**data)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    except ValidationError as exc:
        fallback = str(path) if path else "environment"
        raise ConfigError("\n".join(validation_problems(exc, document, fallback))) from exc


def validation_problems(
    exc: ValidationError, document: Document | None, fallback: str
) -> list[str]:
    """Each error of ``exc`` as ``file:line: key: problem``: where in ``document`` the key is
    (``fallback`` when there is no document). Shared by the configuration and the platform
    repository's file, whose keys have the same schema."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        named = re.match(r"^([a-z_]+(?:\.[a-z_]+)*): ", message)
        if not loc and named:  # a check across groups names its key: point at it
            loc = tuple(named.group(1).split("."))
            message = message[named.end() :]
        key = ".".join(str(part) for part in loc) or "(root)"
        where = str(document.location(loc)) if document is not None else fallback
        if err["type"] == "extra_forbidden":
            message = "unknown key; check the spelling against the README's configuration table"
        problems.append(f"{where}: {key}: {message}")
    return problems
