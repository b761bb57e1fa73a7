"""A token reaches git only as an HTTP header from the environment (ARCHITECTURE §5.1)."""

from __future__ import annotations

import base64
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconciler.errors import SourceError
from reconciler.sources.git import GitMirror

MakeMirror = Callable[..., GitMirror]
TOKEN = "tok_0123456789SECRET"
BASIC = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()


@pytest.fixture
def http_remote() -> Iterator[tuple[str, list[str]]]:
    """(URL of a git-over-HTTP server answering 404, Authorization headers it received)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/org/apps.git", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def git_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A log of the argv of every git command run, by a ``git`` wrapper first on PATH."""
    real = shutil.which("git")
    assert real is not None
    log = tmp_path / "git-argv.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_token_is_sent_as_an_http_basic_header(
    http_remote: tuple[str, list[str]], make_mirror: MakeMirror
) -> None:
    url, seen = http_remote
    mirror = make_mirror(url=url, token=TOKEN)

    with pytest.raises(SourceError) as caught:
        mirror.fetch()

    assert seen
    assert set(seen) == {f"Basic {BASIC}"}
    assert TOKEN not in str(caught.value)
    assert BASIC not in str(caught.value)


def test_token_is_never_in_argv_or_remote_config(
    http_remote: tuple[str, list[str]],
    make_mirror: MakeMirror,
    git_calls: Path,
    tmp_path: Path,
) -> None:
    url, seen = http_remote
    mirror = make_mirror(url=url, token=TOKEN)

    with pytest.raises(SourceError):
        mirror.fetch()
    with pytest.raises(SourceError):
        mirror.write_files(branch="innominatus-status", files={"a.yaml": b"a"}, message="m")

    argv = git_calls.read_text()
    assert "fetch" in argv
    assert "push" in argv
    assert seen  # the server was asked, so the header went out
    config = (tmp_path / "data" / "repos" / "apps.git" / "config").read_text()
    assert url in config
    for secret in (TOKEN, BASIC):
        assert secret not in argv
        assert secret not in config
