"""Where a repository lives and how git authenticates to it.

Owns the reading of a configured repository address (a plain path, ``file://``, ``https://``,
``ssh://`` or scp-like ``git@host:org/repo.git``) into what git is given, which folder to watch
for a local repository, and the environment that carries credentials to git. A token becomes an
HTTP ``Authorization`` header passed through ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/
``GIT_CONFIG_VALUE_n`` (scoped to the repository's origin), an SSH key becomes
``GIT_SSH_COMMAND``; neither ever enters argv, the URL or the mirror's stored config.
Called by :class:`reconciler.sources.git.GitMirror` when it is constructed.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from reconciler.sources.redact import redact_url

_HTTP_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class Remote:
    """A repository address made ready for git; ``repr`` shows no secret."""

    url: str
    """What git fetches from and pushes to (an absolute path for a local repository)."""
    display: str
    """The address for messages and logs, without userinfo."""
    local_path: Path | None
    """The repository folder when it is local (a path or ``file://`` URL), else None."""
    env: dict[str, str] = field(repr=False)
    """Environment for every git command of this repository (credentials, no prompts)."""
    secrets: tuple[str, ...] = field(repr=False)
    """Strings to mask in any text about this repository."""


def resolve_remote(url: str, *, token: str | None = None, ssh_key: Path | None = None) -> Remote:
    """Read ``url`` (relative paths against the current directory, now) and the credentials."""
    local = local_path(url)
    env = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    secrets: tuple[str, ...] = ()
    split = urlsplit(url) if "://" in url else None
    if token and split is not None and split.scheme.lower() in _HTTP_SCHEMES:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
        header = f"Authorization: Basic {basic}"
        origin = f"{split.scheme.lower()}://{split.netloc.rpartition('@')[2]}/"
        env |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{origin}.extraHeader",
            "GIT_CONFIG_VALUE_0": header,
        }
        secrets = (token, basic, header)
    elif token:
        secrets = (token,)
    if ssh_key is not None:
        key = shlex.quote(str(Path(ssh_key).expanduser().resolve()))
        env["GIT_SSH_COMMAND"] = f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes"
    return Remote(
        url=str(local) if local is not None else url,
        display=redact_url(url),
        local_path=local,
        env=env,
        secrets=secrets,
    )


def local_path(url: str) -> Path | None:
    """The absolute folder of a local repository address, or None for a remote one.

    Git's rule for scp-like addresses applies: a ``:`` before the first ``/`` means
    ``host:path`` over SSH, so a local folder with a colon in its first name needs ``./``.
    """
    if url.startswith("file://"):
        split = urlsplit(url)
        if split.netloc not in ("", "localhost"):
            raise ValueError(f"{url}: a file:// URL must name a path on this machine")
        return Path(unquote(split.path)).resolve()
    if "://" in url:
        return None
    colon, slash = url.find(":"), url.find("/")
    if colon > 0 and (slash < 0 or colon < slash):
        return None
    return Path(url).expanduser().resolve()


def git_dir_of(folder: Path) -> Path:
    """The folder holding the refs of the repository at ``folder`` (what to watch).

    ``folder/.git`` for a work tree, the ``gitdir:`` (or its common dir) a ``.git`` file points
    to for a linked work tree or submodule, else ``folder`` itself (a bare repository, or one
    that does not exist yet).
    """
    dot_git = folder / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():
        first = dot_git.read_text(encoding="utf-8", errors="replace").partition("\n")[0]
        if first.startswith("gitdir:"):
            git_dir = (folder / first.removeprefix("gitdir:").strip()).resolve()
            common = git_dir / "commondir"
            if common.is_file():
                return (git_dir / common.read_text(encoding="utf-8").strip()).resolve()
            return git_dir
    return folder
