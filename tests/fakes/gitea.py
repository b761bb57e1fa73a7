"""A fake Gitea (Forgejo keeps the same API): the repository endpoints the ``gitea-repo`` step
calls, served over real HTTP on 127.0.0.1 from a thread (``http.server``), following Gitea's
API documentation (``/api/v1``, swagger ``repoGet``, ``createOrgRepo``, ``createCurrentUserRepo``,
``repoEdit``, ``repoDelete``, ``repoListTopics``, ``repoAddTopic``, ``userGetCurrent``):

- ``GET /user``: the token's user, ``{login, ...}``.
- ``POST /orgs/{org}/repos``, ``POST /user/repos``: ``CreateRepoOption`` (``name`` required,
  ``description``, ``private``, ``auto_init``, ``default_branch``); 201 with the Repository;
  409 when the name is taken; 404 for an unknown organisation; 422 for an invalid name.
- ``GET /repos/{owner}/{repo}``: 200 Repository, or 404.
- ``PATCH /repos/{owner}/{repo}``: ``EditRepoOption`` (``description``, ``private``); 200.
- ``DELETE /repos/{owner}/{repo}``: 204.
- ``GET /repos/{owner}/{repo}/topics``: ``{"topics": [...]}``; ``PUT .../topics/{topic}``: 204,
  a topic not matching ``^[a-z0-9][a-z0-9-]*$`` or over 35 characters is a 422.

Authentication: ``Authorization: token <t>`` (or ``Bearer``), else 401. Every request is
recorded with its headers (:attr:`FakeGitea.requests`); :meth:`FakeGitea.outage` answers 503
until its block ends; :meth:`FakeGitea.stop` closes the port (a server that is down).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_TOPIC = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class FakeGitea:
    token: str
    user: str = "platform-bot"
    orgs: set[str] = field(default_factory=lambda: {"platform"})
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``owner/name`` -> the Repository as the API returns it, plus ``topics``."""
    requests: list[Request] = field(default_factory=list)
    down: bool = False
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeGitea:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.down = True
        try:
            yield
        finally:
            self.down = False

    def add_repo(
        self, owner: str, name: str, *, topics: tuple[str, ...] = (), **fields: Any
    ) -> None:
        """A repository that exists before the test (someone else's, unless ``topics``)."""
        with self._lock:
            self.repos[f"{owner}/{name}"] = self._repository(owner, name, fields, list(topics))

    def _repository(
        self, owner: str, name: str, option: dict[str, Any], topics: list[str]
    ) -> dict[str, Any]:
        html = f"{self.url}/{owner}/{name}"
        return {
            "id": next(self._ids),
            "name": name,
            "full_name": f"{owner}/{name}",
            "owner": {"login": owner},
            "description": option.get("description", ""),
            "private": bool(option.get("private", False)),
            "empty": not option.get("auto_init", False),
            "default_branch": option.get("default_branch") or "main",
            "html_url": html,
            "clone_url": f"{html}.git",
            "ssh_url": f"git@{urlsplit(self.url).hostname}:{owner}/{name}.git",
            "topics": topics,
        }

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [unquote(part) for part in path.removeprefix("/api/v1/").split("/")]
        with self._lock:
            if method == "GET" and parts == ["user"]:
                return 200, {"id": 1, "login": self.user}
            if method == "POST" and (parts[0], parts[-1]) in (("orgs", "repos"), ("user", "repos")):
                owner = self.user if parts[0] == "user" else parts[1]
                if parts[0] == "orgs" and (len(parts) != 3 or owner not in self.orgs):
                    return 404, {"message": "GetOrgByName", "url": ""}
                name = body.get("name") if isinstance(body, dict) else None
                if not isinstance(name, str) or not _NAME.match(name):
                    return 422, {"message": "[Name]: invalid name"}
                if f"{owner}/{name}" in self.repos:
                    return 409, {"message": "The repository with the same name already exists."}
                repo = self._repository(owner, name, body, [])
                self.repos[repo["full_name"]] = repo
                return 201, _public(repo)
            if parts[0] != "repos" or len(parts) < 3:
                return 404, {"message": "not found"}
            full = f"{parts[1]}/{parts[2]}"
            repo = self.repos.get(full)
            if repo is None:
                return 404, {"message": "The target couldn't be found."}
            rest = parts[3:]
            if method == "GET" and not rest:
                return 200, _public(repo)
            if method == "PATCH" and not rest:
                for key in ("description", "private"):
                    if isinstance(body, dict) and key in body:
                        repo[key] = body[key]
                return 200, _public(repo)
            if method == "DELETE" and not rest:
                del self.repos[full]
                return 204, None
            if method == "GET" and rest == ["topics"]:
                return 200, {"topics": list(repo["topics"])}
            if method == "PUT" and len(rest) == 2 and rest[0] == "topics":
                topic = rest[1]
                if not _TOPIC.match(topic) or len(topic) > 35:
                    return 422, {"invalidTopics": [topic], "message": "Topic names are invalid"}
                if topic not in repo["topics"]:
                    repo["topics"].append(topic)
                return 204, None
            return 405, {"message": "method not allowed"}


def _public(repo: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in repo.items() if key != "topics"}


def _handler(fake: FakeGitea) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, document = self._answer(raw)
            fake.requests.append(
                Request(self.command, self.path, dict(self.headers.items()), raw, status)
            )
            payload = b"" if document is None else json.dumps(document).encode()
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _answer(self, raw: bytes) -> tuple[int, Any]:
            if fake.down:
                return 503, {"message": "service unavailable"}
            scheme, _, credential = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() not in ("token", "bearer") or credential != fake.token:
                return 401, {"message": "token is required", "url": ""}
            path = urlsplit(self.path).path
            if not path.startswith("/api/v1/"):
                return 404, {"message": "not found"}
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return 400, {"message": "invalid JSON"}
            return fake.answer(self.command, path, body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


@contextmanager
def fake_gitea(token: str) -> Iterator[FakeGitea]:
    """A running :class:`FakeGitea` accepting ``token``, stopped on the way out."""
    gitea = FakeGitea(token=token).start()
    try:
        yield gitea
    finally:
        gitea.stop()
