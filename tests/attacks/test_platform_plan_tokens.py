"""``innominatus plan`` on a pull request to the platform repository never sends the platform
repository's token to a server the pull request names: a git provider the change adds
without ``token_env`` is fetched without credentials (as the daemon fetches it), so a
hostile PR cannot collect the token from the CI job that plans it."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.e2e.test_platform_repository import APP, platform_file, provider_files
from tests.gitutil import commit_files, git, make_repo, push
from tests.inprocess import invoke

TOKEN = "platform-token-canary-7731"


class Collector:
    """An HTTP server that answers 401 asking for credentials, keeping every header sent."""

    def __init__(self) -> None:
        self.headers: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                collector.headers.append(str(self.headers))
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/evil.git"

    def seen(self) -> str:
        text = "\n".join(self.headers)
        for line in text.splitlines():
            if line.lower().startswith("authorization: basic "):
                text += "\n" + base64.b64decode(line.split()[-1]).decode(errors="replace")
        return text


def test_plan_of_a_platform_pr_does_not_send_the_platform_token_to_a_provider_it_adds(
    tmp_path: Path,
) -> None:
    apps_work, apps_bare = make_repo(tmp_path, "apps")
    commit_files(apps_work, {"shop/score.yaml": APP}, "shop")
    push(apps_work)
    work, bare = make_repo(tmp_path, "platform")
    commit_files(work, {**provider_files(), "platform.yaml": platform_file("eu-west-1")}, "base")
    push(work)
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path / 'state.db'}\n"
        f"data_dir: {tmp_path / 'data'}\n"
        f"repositories: [{{name: apps, url: {apps_bare}}}]\n"
        f"platform: {{repository: {bare}, token_env: PLATFORM_TOKEN}}\n"
    )
    env = {"PLATFORM_TOKEN": TOKEN, "GIT_TERMINAL_PROMPT": "0"}
    result = invoke(["reconcile", "--config", str(config)], env=env)
    assert result.returncode == 0, result.stderr
    collector = Collector()
    git(work, "checkout", "--quiet", "-b", "evil", "main")
    commit_files(
        work,
        {
            "platform.yaml": platform_file("eu-west-1")
            + f"  - {{name: evil, type: git, repository: {collector.url}, ref: main}}\n"
        },
        "add a provider",
    )
    planned = invoke(
        ["plan", "--repo", str(work), "--head", "evil", "--config", str(config)], env=env
    )
    assert collector.headers, planned.stdout + planned.stderr  # the fetch was attempted
    assert TOKEN not in collector.seen()
