"""The commit-status requests of each forge's HTTP API, built as data: pure, no I/O.

Called by :class:`reconciler.status.commitstatus.CommitStatusSender`, which sends what
:func:`status_request` builds. One innominatus state (``pending``, ``success``, ``failure``)
becomes each forge's own, on the endpoint each documents:

- GitHub: ``POST /repos/{owner}/{repo}/statuses/{sha}``, ``{state, context, description,
  target_url}``, states pending|success|failure|error, description at most 140 characters;
  ``Authorization: Bearer``.
- GitLab: ``POST /projects/{url-encoded path}/statuses/{sha}``, ``{state, name, description,
  target_url}``, states pending|running|success|failed|canceled; ``PRIVATE-TOKEN``. Pending
  is sent as ``running``: the daemon is working on the commit, not waiting for a runner.
- Gitea and Forgejo: ``POST /repos/{owner}/{repo}/statuses/{sha}``, ``{state, context,
  description, target_url}``, states pending|success|error|failure|warning;
  ``Authorization: token``.
- Bitbucket Cloud: ``POST /repositories/{workspace}/{repo_slug}/commit/{sha}/statuses/build``,
  ``{key, state, name, description, url}`` (``url`` required), states
  INPROGRESS|SUCCESSFUL|FAILED|STOPPED; ``Authorization: Bearer`` for an access token, basic
  authentication for ``user:app-password``.

The description is one line of printable text, at most :data:`MAX_DESCRIPTION` characters,
with the token masked should it ever appear in it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from reconciler.secrets import MIN_SECRET_LENGTH, mask_text

CommitState = Literal["pending", "success", "failure"]
"""What innominatus says about a commit: work left, all apps ready, a problem."""

MAX_DESCRIPTION = 140
"""GitHub refuses longer descriptions (422); the others are held to the same length."""

_STATES: dict[str, dict[CommitState, str]] = {
    "github": {"pending": "pending", "success": "success", "failure": "failure"},
    "gitlab": {"pending": "running", "success": "success", "failure": "failed"},
    "gitea": {"pending": "pending", "success": "success", "failure": "failure"},
    "forgejo": {"pending": "pending", "success": "success", "failure": "failure"},
    "bitbucket": {"pending": "INPROGRESS", "success": "SUCCESSFUL", "failure": "FAILED"},
}
FORGES = tuple(_STATES)


@dataclass(frozen=True, slots=True)
class ForgeTarget:
    """Where one repository's commit statuses go."""

    forge: str
    """``github``, ``gitlab``, ``gitea``, ``forgejo`` or ``bitbucket``."""
    api_url: str
    """The API's base URL, without a trailing slash (``https://api.github.com``)."""
    project: str
    """``owner/repo`` (GitLab: the project's full path)."""
    context: str = "innominatus/reconcile"
    target_url: str | None = None

    def __post_init__(self) -> None:
        if self.forge not in _STATES:
            raise ValueError(f"unknown forge {self.forge!r}; use one of {', '.join(FORGES)}")
        if not project_path_ok(self.project):
            raise ValueError(f"{self.project!r} is not a project path (owner/repo)")


def project_path_ok(project: str) -> bool:
    """Whether ``project`` has no empty, ``.`` or ``..`` segment: an HTTP client resolves
    dot segments, which would take the token-bearing request out of the project's endpoint
    (``/repos/../admin/statuses`` is ``/admin/statuses``)."""
    return all(part not in ("", ".", "..") for part in project.split("/"))


@dataclass(frozen=True, slots=True)
class ForgeRequest:
    """One HTTP request: what the sender sends, and what the tests compare."""

    method: str
    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(repr=False)
    """Holds the token: never logged (``repr`` leaves it out)."""


_ESCAPE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]")
"""A terminal control sequence (colours, cursor moves), as a step's output holds them."""


def one_line(text: str, *, secrets: tuple[str, ...] = (), limit: int = MAX_DESCRIPTION) -> str:
    """``text`` as a status description: ``secrets`` masked, terminal escape sequences
    dropped, every other unprintable character (NUL, bidirectional overrides, zero-width
    ones) and whitespace run (newlines included) folded to one space, cut to ``limit``
    characters with an ellipsis. Masked again once cleaned: a secret split by an escape
    sequence is whole again without it."""
    cleaned = _ESCAPE.sub("", mask_text(text, secrets))
    printable = "".join(ch if ch.isprintable() else " " for ch in cleaned)
    folded = mask_text(" ".join(printable.split()), secrets)
    return folded if len(folded) <= limit else folded[: limit - 1].rstrip() + "…"


def _auth(forge: str, token: str) -> dict[str, str]:
    if forge == "gitlab":
        return {"PRIVATE-TOKEN": token}
    if forge in ("gitea", "forgejo"):
        return {"Authorization": f"token {token}"}
    if forge == "bitbucket" and ":" in token:  # user:app-password, or email:api-token
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    return {"Authorization": f"Bearer {token}"}


def credentials(forge: str, token: str) -> tuple[str, ...]:
    """Every form ``token`` goes out in, for masking what a forge echoes back: the token, its
    header values, and for Bitbucket's ``user:app-password`` the base64 of it (a Basic
    header) and the password alone."""
    forms = [token, *_auth(forge, token).values()]
    if forge == "bitbucket" and ":" in token:
        forms.append(base64.b64encode(token.encode()).decode())
        password = token.split(":", 1)[1]
        if len(password) >= MIN_SECRET_LENGTH:
            forms.append(password)
    return tuple(forms)


def _key(context: str) -> str:
    """A Bitbucket status key from the context: letters, digits, ``-``, ``_``, ``.``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", context)


def status_request(
    target: ForgeTarget, *, token: str, sha: str, state: CommitState, description: str
) -> ForgeRequest:
    """The request that sets ``target``'s status of commit ``sha`` to ``state``."""
    forge = target.forge
    text = one_line(description, secrets=(token,))
    native = _STATES[forge][state]
    headers = {
        "Accept": "application/json",
        "User-Agent": "innominatus",
        **_auth(forge, token),
    }
    body: dict[str, Any]
    if forge == "github":
        headers["Accept"] = "application/vnd.github+json"
        headers["X-GitHub-Api-Version"] = "2022-11-28"
        path = f"/repos/{_owner_repo(target.project)}/statuses/{sha}"
        body = {"state": native, "context": target.context, "description": text}
        if target.target_url:
            body["target_url"] = target.target_url
    elif forge == "gitlab":
        path = f"/projects/{quote(target.project, safe='')}/statuses/{sha}"
        body = {"state": native, "name": target.context, "description": text}
        if target.target_url:
            body["target_url"] = target.target_url
    elif forge == "bitbucket":
        path = f"/repositories/{_owner_repo(target.project)}/commit/{sha}/statuses/build"
        body = {
            "key": _key(target.context),
            "state": native,
            "name": target.context,
            "description": text,
            "url": target.target_url or f"https://bitbucket.org/{target.project}/commits/{sha}",
        }
    else:  # gitea, forgejo
        path = f"/repos/{_owner_repo(target.project)}/statuses/{sha}"
        body = {"state": native, "context": target.context, "description": text}
        if target.target_url:
            body["target_url"] = target.target_url
    return ForgeRequest("POST", target.api_url + path, body, headers)


def _owner_repo(project: str) -> str:
    owner, _, repo = project.partition("/")
    return f"{quote(owner, safe='')}/{quote(repo, safe='')}"


def already_set(target: ForgeTarget, status: int, text: str) -> bool:
    """Whether an error answer means the status is already what was sent: GitLab refuses a
    status equal to its current one (400 ``Cannot transition status via :run from
    :running``), as after a restart that sends the last status again."""
    return target.forge == "gitlab" and status == 400 and "cannot transition status" in text.lower()
