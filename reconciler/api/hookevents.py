"""What a forge's webhook says, and whether it may say it: signature checks and push-event
parsing for the webhook receiver (:mod:`reconciler.api.webhooks`), pure and without I/O.

A webhook is never trusted beyond "look at repository R again": the pass reads Git itself.
So this module only answers three questions about a request — is it signed with a secret we
hold (:func:`verified_secrets`), which repository and branch does it name
(:func:`parse_push`), and which configured repositories are those (:class:`HookTargets`).

Signatures, per provider (the header names the forges document):

- ``github``: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``
- ``gitlab``: ``X-Gitlab-Token: <the secret itself>``
- ``gitea`` / ``forgejo``: ``X-Gitea-Signature`` / ``X-Forgejo-Signature: <hex HMAC-SHA256>``
- ``bitbucket``: ``X-Hub-Signature: sha256=<hex HMAC-SHA256>``
- ``generic``: ``X-Innominatus-Signature: sha256=<hex HMAC-SHA256>``

Every comparison is :func:`hmac.compare_digest`, against every secret we hold, so the time an
answer takes says nothing about which secret came close.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

PROVIDERS = ("github", "gitlab", "gitea", "forgejo", "bitbucket", "generic")
"""The routes ``POST /hooks/<provider>``."""

_EVENT_HEADERS = {
    "github": "x-github-event",
    "gitlab": "x-gitlab-event",
    "gitea": "x-gitea-event",
    "forgejo": "x-forgejo-event",
    "bitbucket": "x-event-key",
}
_PUSH_EVENTS = {
    "github": {"push"},
    "gitlab": {"push hook", "tag push hook"},
    "gitea": {"push"},
    "forgejo": {"push"},
    "bitbucket": {"repo:push"},
}


class HookError(ValueError):
    """The body is not a push event this receiver can read (a 400)."""


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verified_secrets(
    provider: str, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]
) -> set[int]:
    """Indexes of the ``secrets`` the request is signed (or, for GitLab, authenticated) with;
    empty when it is unsigned or signed with none of them. ``headers`` has lower-case keys."""
    if provider == "gitlab":
        token = headers.get("x-gitlab-token", "").encode()
        if not token:
            return set()
        return {
            i for i, secret in enumerate(secrets) if hmac.compare_digest(token, secret.encode())
        }
    if provider in ("gitea", "forgejo"):
        given = headers.get(f"x-{provider}-signature", "").strip().lower()
        if not given and provider == "forgejo":
            given = headers.get("x-gitea-signature", "").strip().lower()  # Forgejo sends both
    else:
        header = {
            "github": "x-hub-signature-256",
            "bitbucket": "x-hub-signature",
            "generic": "x-innominatus-signature",
        }[provider]
        value = headers.get(header, "").strip()
        if not value.lower().startswith("sha256="):
            return set()
        given = value[len("sha256=") :].lower()
    if not given:
        return set()
    return {
        i
        for i, secret in enumerate(secrets)
        if hmac.compare_digest(given.encode(), _hmac_hex(secret, body).encode())
    }


@dataclass(frozen=True)
class Push:
    """What a push event names: its repository (URLs and full name), the ref and the commit.
    ``kind`` is ``branch``, ``tag``, or ``other`` (not a push: ping, pull request...)."""

    kind: Literal["branch", "tag", "other"]
    event: str
    branch: str | None = None
    tag: str | None = None
    after: str | None = None
    urls: tuple[str, ...] = ()
    full_name: str | None = None
    name: str | None = None
    """The generic hook's configured repository name."""
    branches: tuple[str, ...] = ()
    """Every branch one push updated (Bitbucket sends several); ``branch`` is the first."""

    def updates(self, branch: str) -> bool:
        """Whether this push moved ``branch`` (a push naming no branch may have moved any)."""
        return self.branch is None or branch == self.branch or branch in self.branches


def _ref(ref: Any) -> tuple[Literal["branch", "tag", "other"], str | None]:
    if not isinstance(ref, str) or not _is_text(ref):
        return "other", None
    if ref.startswith("refs/heads/"):
        return "branch", ref.removeprefix("refs/heads/")
    if ref.startswith("refs/tags/"):
        return "tag", ref.removeprefix("refs/tags/")
    return "other", None


def _is_text(value: str) -> bool:
    """Encodable as UTF-8 (JSON may carry lone surrogates, which no branch name is)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strings(*values: Any) -> tuple[str, ...]:
    return tuple(v for v in values if isinstance(v, str) and v and _is_text(v))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_push(provider: str, headers: Mapping[str, str], body: bytes) -> Push:
    """The push ``body`` describes (a :class:`Push` of kind ``other`` for any other event);
    :class:`HookError` when it is not a JSON object. Only the fields named in the module's
    documentation are read; nothing else of the body is kept."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # not UTF-8 or JSON, too deep, a huge integer
        raise HookError("the body is not JSON innominatus reads") from exc
    if not isinstance(data, dict):
        raise HookError("the body is not a JSON object")
    event = headers.get(_EVENT_HEADERS.get(provider, ""), "").strip().lower()
    if not event and provider == "forgejo":
        event = headers.get("x-gitea-event", "").strip().lower()  # Forgejo sends both
    if provider == "generic":
        return _generic(data)
    if event not in _PUSH_EVENTS[provider]:
        return Push(kind="other", event=event or "unknown")
    repo = _mapping(data.get("repository"))
    if provider == "bitbucket":
        return _bitbucket(data, repo, event)
    if provider == "gitlab":
        project = _mapping(data.get("project"))
        urls = _strings(
            project.get("git_http_url"),
            project.get("git_ssh_url"),
            project.get("web_url"),
            repo.get("git_http_url"),
            repo.get("git_ssh_url"),
            repo.get("homepage"),
        )
        full_name = project.get("path_with_namespace")
    else:
        urls = _strings(repo.get("clone_url"), repo.get("html_url"), repo.get("ssh_url"))
        full_name = repo.get("full_name")
    kind, ref = _ref(data.get("ref"))
    after = data.get("after") if isinstance(data.get("after"), str) else None
    return Push(
        kind=kind,
        event=event,
        branch=ref if kind == "branch" else None,
        tag=ref if kind == "tag" else None,
        after=after,
        urls=urls,
        full_name=full_name if isinstance(full_name, str) else None,
    )


def _bitbucket(data: dict[str, Any], repo: dict[str, Any], event: str) -> Push:
    """Bitbucket Cloud's ``repo:push``: ``push.changes[].new`` names each updated ref (a branch
    or tag; ``new`` is null for a deleted one). Every branch change counts, else a tag."""
    changes = _mapping(data.get("push")).get("changes")
    news = [
        new
        for change in (changes if isinstance(changes, list) else [])
        if isinstance((new := _mapping(_mapping(change).get("new"))).get("name"), str)
        and _is_text(new["name"])
    ]
    branch = next((n for n in news if n.get("type") in ("branch", "named_branch")), None)
    tag = next((n for n in news if n.get("type") == "tag"), None)
    urls = _strings(_mapping(_mapping(repo.get("links")).get("html")).get("href"))
    full_name = repo.get("full_name") if isinstance(repo.get("full_name"), str) else None
    chosen = branch or tag
    if chosen is None or not isinstance(chosen.get("name"), str):
        return Push(kind="other", event=event, urls=urls, full_name=full_name)
    target = _mapping(chosen.get("target")).get("hash")
    branches = tuple(n["name"] for n in news if n.get("type") in ("branch", "named_branch"))
    return Push(
        kind="branch" if branch else "tag",
        event=event,
        branch=chosen["name"] if branch else None,
        branches=branches,
        tag=chosen["name"] if not branch else None,
        after=target if isinstance(target, str) else None,
        urls=urls,
        full_name=full_name,
    )


def _generic(data: dict[str, Any]) -> Push:
    """``{"repository": "<name, URL or owner/repo>", "ref": "refs/heads/main"}`` (or
    ``"branch": "main"``; neither means "whatever branch it follows")."""
    repository = data.get("repository")
    if not isinstance(repository, str) or not repository:
        raise HookError('the generic hook needs "repository": a name, URL or owner/repo')
    if "ref" in data:
        kind, ref = _ref(data.get("ref"))
    elif isinstance(data.get("branch"), str):
        kind, ref = "branch", data["branch"]
    else:
        kind, ref = "branch", None
    return Push(
        kind=kind,
        event="push",
        branch=ref if kind == "branch" else None,
        tag=ref if kind == "tag" else None,
        after=data.get("after") if isinstance(data.get("after"), str) else None,
        urls=(repository,)
        if re.match(r"^(/|[a-zA-Z][a-zA-Z0-9+.-]*://|[^/]*@)", repository)
        else (),
        full_name=repository,
        name=repository,
    )


_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$")


def normalise_url(url: str) -> str:
    """One spelling per repository: ``host/path`` without scheme, credentials, port, ``.git``
    or trailing slash, lower case (forges treat owner and name case-insensitively). An scp-style
    ``git@host:owner/repo`` is ``host/owner/repo``; a local path or ``file://`` URL is its
    path. ``https://GitHub.com/Owner/Repo.git`` and ``git@github.com:owner/repo`` are equal."""
    url = url.strip()
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url)
    if match:
        scheme = match.group(0)[:-3].lower()
        rest = url[match.end() :]
        if scheme == "file":
            host, path = "", rest[rest.find("/") :] if "/" in rest else ""
        else:
            authority, _, path = rest.partition("/")
            host = authority.rsplit("@", 1)[-1]
            host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            path = "/" + path
    elif (scp := _SCP.match(url)) and not url.startswith(("/", ".")):
        host, path = scp.group(1), "/" + scp.group(2)
    else:
        host, path = "", url
    path = path.rstrip("/").removesuffix(".git").rstrip("/")
    return ascii_lower(f"{host}{path}")


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def ascii_lower(text: str) -> str:
    """``text`` with A-Z lowered and nothing else: ``str.lower`` would fold look-alikes (the
    Kelvin sign) onto ASCII letters, so another repository's name could match."""
    return text.translate(_ASCII_LOWER)


def full_name_of(url: str) -> str | None:
    """``owner/repo`` (or ``group/sub/repo``) of a forge URL; None for a local path."""
    normal = normalise_url(url)
    if normal.startswith("/"):
        return None
    _host, _, path = normal.partition("/")
    return path or None


@dataclass(frozen=True)
class Target:
    """A configured repository the receiver may trigger: its name, branch (None for provider
    repositories: any push there may move the ref or release they follow), and which of the
    secrets may trigger it."""

    name: str
    url: str
    branch: str | None
    secret: int | None
    """Index into the receiver's secrets; None: no secret may trigger it (none configured)."""


@dataclass(frozen=True)
class HookTargets:
    """The configured repositories by every spelling a hook may use for them."""

    targets: tuple[Target, ...]

    def matching(self, push: Push) -> list[Target]:
        """The targets ``push`` names (by URL, full name, or — generic hook — name)."""
        urls = {normalise_url(u) for u in push.urls}
        # A full name (owner/repo) counts on the forge the payload's URLs name: acme/apps on
        # GitHub is not acme/apps on GitLab. Without URLs: on any host for the generic hook
        # (it names no forge), on none for a forge's hook.
        hosts = {u.partition("/")[0] for u in urls if not u.startswith("/")}
        names = {ascii_lower(push.full_name.strip("/"))} if push.full_name else set()
        found = []
        for target in self.targets:
            normal = normalise_url(target.url)
            full = full_name_of(target.url)
            by_url = normal in urls
            by_full_name = (
                full is not None
                and full in names
                and (normal.partition("/")[0] in hosts or (not hosts and push.name is not None))
            )
            by_name = push.name is not None and push.name == target.name
            if by_url or by_full_name or by_name:
                found.append(target)
        return found
