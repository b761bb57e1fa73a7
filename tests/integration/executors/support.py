"""Helpers for the executor tests: running a step, a GitOps target repository wired through
:class:`GitMirror` as the runtime does, a recording fake ``kubectl``, and the real tools (or a
skip that says how to install them, a failure under ``CI=true``: ``tests/tools.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reconciler.executors.ansible import find_ansible_playbook
from reconciler.executors.base import StepExecutor, StepRequest, StepResult
from reconciler.sources.git import GitMirror
from tests.gitutil import git
from tests.tools import missing


def run(executor: StepExecutor, request: StepRequest, **kwargs: Any) -> StepResult:
    return asyncio.run(executor.run(request, **kwargs))


@dataclass
class GitOpsRepo:
    """A bare repository (the GitOps target) and the writers the runtime would hand out."""

    bare: Path
    data_dir: Path
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    mirrors: dict[tuple[str, str], GitMirror] = field(default_factory=dict)

    def __call__(self, *, url: str, branch: str, token_env: str | None) -> GitMirror:
        self.requests.append((url, branch, token_env))
        key = (url, branch)
        if key not in self.mirrors:
            name = f"target-{len(self.mirrors)}"
            self.mirrors[key] = GitMirror(name=name, url=url, branch=branch, data_dir=self.data_dir)
        return self.mirrors[key]

    def files(self, branch: str = "main") -> dict[str, str]:
        names = git(self.bare, "ls-tree", "-r", "--name-only", branch).splitlines()
        return {name: git(self.bare, "show", f"{branch}:{name}") + "\n" for name in names}

    def commits(self, branch: str = "main") -> int:
        return int(git(self.bare, "rev-list", "--count", branch))


@dataclass
class FakeKubectl:
    path: Path
    calls: Path

    def invocations(self) -> list[tuple[list[str], str]]:
        """(argv after the program, stdin) of every call, in order."""
        if not self.calls.exists():
            return []
        records = [json.loads(line) for line in self.calls.read_text().splitlines()]
        return [(record["argv"], record["stdin"]) for record in records]


def terraform_binary() -> str:
    found = shutil.which("terraform") or (
        "/usr/local/bin/terraform" if Path("/usr/local/bin/terraform").is_file() else None
    )
    if found is None:
        missing(
            "terraform not found on PATH or at /usr/local/bin/terraform; install it from "
            "https://developer.hashicorp.com/terraform/install (`.ci/run` does)"
        )
    return found


def ansible_binary() -> str:
    found = find_ansible_playbook()
    if found is None:
        missing(
            "ansible-playbook not found; install the extra: "
            "`.venv/bin/pip install -e '.[ansible]'` (or `pip install ansible-core`)"
        )
    return found


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Api:
    """A local server answering from a script of (status, JSON body) and recording requests."""

    url: str
    answers: list[tuple[int, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0


def serve(api: Api, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            api.received.append(
                Received(self.command, self.path, dict(self.headers), self.rfile.read(length))
            )
            time.sleep(api.delay)
            status, body = api.answers.pop(0) if api.answers else (200, {})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)  # a step that timed out has hung up already

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
