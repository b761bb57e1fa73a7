"""Fake forges: the commit-status endpoints of GitHub, GitLab, Gitea/Forgejo and Bitbucket
Cloud, served over real HTTP on 127.0.0.1 from a thread (``http.server``), each following its
forge's documentation for the calls innominatus makes:

- GitHub ``POST /repos/{owner}/{repo}/statuses/{sha}``: ``Authorization: Bearer|token``;
  states pending|success|failure|error; ``description`` over 140 characters is a 422.
- GitLab ``POST /api/v4/projects/{id or url-encoded path}/statuses/{sha}``: ``PRIVATE-TOKEN``
  or ``Authorization: Bearer``; states pending|running|success|failed|canceled; sending the
  state a running or pending status already has is a 400 ``Cannot transition status``, as
  GitLab's state machine answers.
- Gitea/Forgejo ``POST /api/v1/repos/{owner}/{repo}/statuses/{sha}``: ``Authorization:
  token|Bearer``; states pending|success|error|failure|warning.
- Bitbucket Cloud ``POST /2.0/repositories/{workspace}/{slug}/commit/{sha}/statuses/build``:
  ``Authorization: Bearer`` or basic; ``key``, ``state`` and ``url`` required; states
  INPROGRESS|SUCCESSFUL|FAILED|STOPPED.

A request without the right token is a 401, another project or path a 404. Every request is
recorded (:attr:`FakeForge.requests`), accepted statuses too (:attr:`FakeForge.statuses`).
:meth:`FakeForge.outage` makes it answer 503 (optionally echoing the request's headers, as a
careless proxy's error page might) until the block ends. Meant to grow with the calls later
tests need (a Gitea repository step).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

STATES = {
    "github": ("pending", "success", "failure", "error"),
    "gitlab": ("pending", "running", "success", "failed", "canceled"),
    "gitea": ("pending", "success", "error", "failure", "warning"),
    "forgejo": ("pending", "success", "error", "failure", "warning"),
    "bitbucket": ("INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"),
}
PREFIX = {"github": "", "gitlab": "/api/v4", "gitea": "/api/v1", "forgejo": "/api/v1"}
PREFIX["bitbucket"] = "/2.0"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    """What the fake answered."""


@dataclass(frozen=True)
class Posted:
    """One accepted commit status, in the forge's own words."""

    sha: str
    state: str
    name: str
    """``context`` (GitHub, Gitea), ``name`` (GitLab), ``key`` (Bitbucket)."""
    description: str
    body: dict[str, Any] = field(repr=False)


class _Refused(Exception):
    def __init__(self, status: int, document: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.document = document


class FakeForge:
    """One forge holding one project, ``owner/repo`` (GitLab: any path), on a free port."""

    def __init__(self, forge: str, *, token: str, project: str = "acme/shop") -> None:
        if forge not in STATES:
            raise ValueError(f"no fake of {forge!r}")
        self.forge = forge
        self.token = token
        self.project = project
        self.requests: list[Request] = []
        self.statuses: list[Posted] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._outage: tuple[int, bool] | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # so that close() returns at once
            name=f"fake-{forge}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The API's base URL, what ``commit_status.api_url`` names."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{PREFIX[self.forge]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeForge:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def outage(self, *, status: int = 503, echo_headers: bool = False) -> Iterator[None]:
        """Answer every request with ``status`` until the block ends."""
        self._outage = (status, echo_headers)
        try:
            yield
        finally:
            self._outage = None

    def states(self, sha: str) -> list[str]:
        """The states set on ``sha`` so far, oldest first."""
        with self._lock:
            return [p.state for p in self.statuses if p.sha == sha]

    def latest(self, sha: str) -> Posted | None:
        with self._lock:
            found = [p for p in self.statuses if p.sha == sha]
        return found[-1] if found else None

    # serving ------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read the recorded requests

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    status, document = 201, fake._post(self.path, headers, body)
                except _Refused as refused:
                    status, document = refused.status, refused.document
                with fake._lock:
                    fake.requests.append(Request("POST", self.path, headers, body, status))
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def _post(self, path: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        if self._outage is not None:
            status, echo = self._outage
            message = "service unavailable" + (f": {json.dumps(headers)}" if echo else "")
            raise _Refused(status, {"message": message})
        self._authorize(headers)
        sha = self._route(path)
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise _Refused(400, {"message": "Problems parsing JSON"}) from exc
        if not isinstance(body, dict):
            raise _Refused(400, {"message": "Problems parsing JSON"})
        answer = {
            "github": self._github,
            "gitlab": self._gitlab,
            "gitea": self._gitea,
            "forgejo": self._gitea,
            "bitbucket": self._bitbucket,
        }[self.forge]
        return answer(sha, body)

    def _authorize(self, headers: dict[str, str]) -> None:
        authorization = headers.get("authorization", "")
        accepted = {
            "github": {f"Bearer {self.token}", f"token {self.token}"},
            "gitlab": {f"Bearer {self.token}"},
            "gitea": {f"token {self.token}", f"Bearer {self.token}"},
            "forgejo": {f"token {self.token}", f"Bearer {self.token}"},
            "bitbucket": {
                f"Bearer {self.token}",
                "Basic " + base64.b64encode(self.token.encode()).decode(),
            },
        }[self.forge]
        if authorization in accepted:
            return
        if self.forge == "gitlab" and headers.get("private-token") == self.token:
            return
        raise _Refused(
            401, {"message": "401 Unauthorized" if self.forge == "gitlab" else "Bad credentials"}
        )

    def _route(self, path: str) -> str:
        owner_repo = "/".join(quote(part, safe="") for part in self.project.split("/", 1))
        patterns = {
            "github": rf"^/repos/{re.escape(owner_repo)}/statuses/(?P<sha>[0-9a-f]{{7,40}})$",
            "gitlab": rf"^/api/v4/projects/{re.escape(quote(self.project, safe=''))}"
            r"/statuses/(?P<sha>[0-9a-f]{7,40})$",
            "gitea": rf"^/api/v1/repos/{re.escape(owner_repo)}/statuses/(?P<sha>[0-9a-f]{{7,40}})$",
            "bitbucket": rf"^/2\.0/repositories/{re.escape(owner_repo)}"
            r"/commit/(?P<sha>[0-9a-f]{7,40})/statuses/build/?$",
        }
        found = re.match(patterns[self.forge if self.forge != "forgejo" else "gitea"], path)
        if found is None:
            raise _Refused(404, {"message": "Not Found"})
        return found.group("sha")

    def _record(
        self, sha: str, state: str, name: str, description: str, body: dict[str, Any]
    ) -> int:
        with self._lock:
            self.statuses.append(Posted(sha, state, name, description, body))
        return next(self._ids)

    def _check_state(self, body: dict[str, Any], key: str = "state") -> str:
        state = body.get(key)
        if state not in STATES[self.forge]:
            raise _Refused(422 if self.forge == "github" else 400, {"message": f"invalid {key}"})
        return str(state)

    def _github(self, sha: str, body: dict[str, Any]) -> dict[str, Any]:
        state = self._check_state(body)
        description = str(body.get("description") or "")
        if len(description) > 140:
            raise _Refused(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "Status",
                            "field": "description",
                            "code": "custom",
                            "message": "description is too long (maximum is 140 characters)",
                        }
                    ],
                },
            )
        context = str(body.get("context") or "default")
        number = self._record(sha, state, context, description, body)
        return {
            "id": number,
            "state": state,
            "context": context,
            "description": description,
            "target_url": body.get("target_url"),
        }

    def _gitlab(self, sha: str, body: dict[str, Any]) -> dict[str, Any]:
        state = self._check_state(body)
        name = str(body.get("name") or body.get("context") or "default")
        with self._lock:
            previous = [p for p in self.statuses if p.sha == sha and p.name == name]
        current = previous[-1].state if previous else None
        if current in ("pending", "running") and current == state:
            event = {"pending": "enqueue", "running": "run"}[state]
            raise _Refused(
                400,
                {
                    "message": f"Cannot transition status via :{event} from "
                    f":{current} (Reason(s): Status cannot transition "
                    f'via "{event}")'
                },
            )
        description = str(body.get("description") or "")
        number = self._record(sha, state, name, description, body)
        return {
            "id": number,
            "sha": sha,
            "status": state,
            "name": name,
            "description": description,
            "target_url": body.get("target_url"),
        }

    def _gitea(self, sha: str, body: dict[str, Any]) -> dict[str, Any]:
        state = self._check_state(body)
        context = str(body.get("context") or "default")
        description = str(body.get("description") or "")
        number = self._record(sha, state, context, description, body)
        return {
            "id": number,
            "status": state,
            "context": context,
            "description": description,
            "target_url": body.get("target_url"),
        }

    def _bitbucket(self, sha: str, body: dict[str, Any]) -> dict[str, Any]:
        for required in ("key", "state", "url"):
            if not body.get(required):
                raise _Refused(
                    400,
                    {"type": "error", "error": {"message": f"{required}: This field is required."}},
                )
        state = self._check_state(body)
        key = str(body["key"])
        description = str(body.get("description") or "")
        self._record(sha, state, key, description, body)
        return {
            "type": "build",
            "key": key,
            "state": state,
            "name": body.get("name"),
            "description": description,
            "url": body["url"],
        }
