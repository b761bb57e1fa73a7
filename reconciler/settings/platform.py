"""The platform repository's file (``platform.yaml``): ``providers:`` and ``step_defaults:``
with the configuration's schema, read from a commit, and turned into the provider sources the
catalogue loads.

Owns :func:`read_platform_file` (bytes at a commit -> :class:`PlatformFile`, every problem as
``file:line: key: what is wrong, what to do``) and :func:`catalog_sources` (a ``filesystem``
provider's ``path`` names a folder of the platform repository, relative to the file's folder
as config paths are to the config's folder, so it becomes a git source pinned to the very
commit read). The file is data from a repository, not from the daemon's host: what reaches
into the host is refused (a provider's ``sandbox``, a relative host path, a ``token_env`` the
configuration does not allow). Called by the runtime's platform follower and ``innominatus
plan``; pure.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from reconciler.errors import ConfigError, InputError
from reconciler.settings.loading import validation_problems
from reconciler.settings.model import ProviderSourceSettings
from reconciler.settings.platformrepo import PlatformSettings
from reconciler.settings.values import Group
from reconciler.yamlfile import Document, TooLarge, load_documents


class _PlatformDocument(Group):
    providers: tuple[ProviderSourceSettings, ...] = ()
    step_defaults: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True, slots=True)
class PlatformFile:
    """One commit's ``platform.yaml``, checked."""

    path: str
    providers: tuple[ProviderSourceSettings, ...]
    step_defaults: dict[str, dict[str, Any]]


def _host_path(value: str | Path | None) -> bool:
    """A path on the daemon's host that is relative (a file in a repository cannot name one:
    relative to what?)."""
    if value is None:
        return False
    text = str(value)
    return not (Path(text).is_absolute() or re.match(r"^[a-z][a-z0-9+.-]*://", text) or "@" in text)


def _checks(
    document: Document,
    parsed: _PlatformDocument,
    *,
    token_envs: Collection[str],
    step_token_envs: Collection[str],
) -> list[str]:
    """What the schema allows but a repository's file may not say."""
    problems: list[str] = []

    def refuse(loc: tuple[str | int, ...], key: str, message: str) -> None:
        problems.append(f"{document.location(loc)}: {key}: {message}")

    seen: set[str] = set()
    for index, source in enumerate(parsed.providers):
        at: tuple[str | int, ...] = ("providers", index)
        key = f"providers.{source.name}"
        if source.name in seen:
            refuse((*at, "name"), f"{key}.name", "two providers have this name; rename one")
        seen.add(source.name)
        if source.sandbox is not None:
            refuse(
                (*at, "sandbox"),
                f"{key}.sandbox",
                "what steps may reach on the daemon's host is the host's policy: set it under "
                "sandbox: in the daemon's configuration, and remove it here",
            )
        if source.token_env and source.token_env not in token_envs:
            refuse(
                (*at, "token_env"),
                f"{key}.token_env",
                f"{source.token_env} is not in the configuration's platform.token_envs; add it "
                "there if this provider is meant to read it",
            )
        if source.type == "filesystem" and source.path is not None:
            folder = PurePosixPath(source.path.as_posix())
            if folder.is_absolute() or ".." in folder.parts:
                refuse(
                    (*at, "path"),
                    f"{key}.path",
                    "a filesystem provider here is a folder of the platform repository: name it "
                    "relative to this file's folder, without '..' (e.g. providers/db)",
                )
        if source.type == "git" and _host_path(source.repository):
            refuse(
                (*at, "repository"),
                f"{key}.repository",
                "name a URL or an absolute path; a folder of the platform repository itself is "
                "a filesystem provider",
            )
        if _host_path(source.keyring):
            refuse((*at, "keyring"), f"{key}.keyring", "name the GnuPG home by absolute path")
    for kind, config in parsed.step_defaults.items():
        token_env = config.get("token_env")
        if isinstance(token_env, str) and token_env not in step_token_envs:
            refuse(
                ("step_defaults", kind, "token_env"),
                f"step_defaults.{kind}.token_env",
                f"{token_env} is not in the configuration's step_token_envs; add it there if "
                "steps are meant to read it",
            )
    return problems


def read_platform_file(
    content: bytes | TooLarge | None,
    *,
    path: str,
    token_envs: Collection[str] = (),
    step_token_envs: Collection[str] = (),
) -> PlatformFile:
    """``content`` (None: no such file at the commit) checked; a :class:`ConfigError` listing
    every problem as ``path:line: key: problem``. ``token_envs``: the configuration's
    ``platform.token_envs``; ``step_token_envs``: its ``step_token_envs``."""
    if content is None:
        raise ConfigError(
            f"{path}: no such file in the platform repository; commit one with providers: and "
            "step_defaults:, or correct platform.path in the configuration"
        )
    try:
        documents = load_documents(content, file=path)
    except InputError as exc:
        raise ConfigError(exc.message) from exc
    if len(documents) > 1:
        raise ConfigError(f"{path}:1: holds {len(documents)} YAML documents; keep one")
    document = documents[0] if documents else Document(file=path, data=None)
    data = document.data if document.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: the file must be a mapping with providers: and step_defaults:"
        )
    try:
        parsed = _PlatformDocument(**data)
    except ValidationError as exc:
        raise ConfigError("\n".join(validation_problems(exc, document, path))) from exc
    problems = _checks(document, parsed, token_envs=token_envs, step_token_envs=step_token_envs)
    if problems:
        raise ConfigError("\n".join(problems))
    return PlatformFile(path=path, providers=parsed.providers, step_defaults=parsed.step_defaults)


def catalog_sources(
    file: PlatformFile, *, platform: PlatformSettings, repository: str, commit: str
) -> tuple[ProviderSourceSettings, ...]:
    """The sources the catalogue loads for ``file`` read at ``commit`` of ``repository`` (the
    platform repository's URL or path): a ``filesystem`` provider becomes the folder of that
    commit (a git source pinned to it, fetched with the platform's own token); the others are
    as written."""
    folder = posixpath.dirname(file.path)
    sources = []
    for written in file.providers:
        source = written
        if written.type == "filesystem" and written.path is not None:
            under = posixpath.normpath(posixpath.join(folder, written.path.as_posix()))
            source = ProviderSourceSettings(
                name=source.name,
                type="git",
                repository=repository,
                ref=commit,
                path=None if under == "." else Path(under),
                sha256=source.sha256,
                token_env=platform.token_env,
                interval=source.interval,
                enabled=source.enabled,
                parameters=source.parameters,
            )
        sources.append(source)
    return tuple(sources)
