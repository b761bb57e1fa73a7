"""Daemons for end-to-end stories: ``innominatus run`` in this process (the default: the
engine's behaviour, without a second of imports per start) or as a real subprocess (for what
only a process shows: signals, kill -9, a second process, the console script's output), both
behind the ``Popen`` interface the tests use; and the small HTTP helpers they poll with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tests.e2e.conftest import Story
from tests.inprocess import InProcessDaemon


@contextmanager
def daemon(
    story: Story, *, process: bool = False, env: Mapping[str, str] | None = None
) -> Iterator[tuple[Any, str]]:
    """``innominatus run --config`` of ``story``: ``(handle, status URL)``. In this process
    unless ``process``; stopped on the way out, its log printed when the block fails."""
    if not process:
        handle = InProcessDaemon(story.config, env=env).start()
        try:
            yield handle, handle.url
        except BaseException:
            print(handle.log())
            raise
        finally:
            handle.terminate()
            handle.wait(timeout=60)
        return
    yield from _daemon_process(story, env=env)


def _daemon_process(
    story: Story, *, env: Mapping[str, str] | None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`innominatus run` with its output in a file (a full pipe would block it)."""
    log_path = story.root / f"daemon-{time.monotonic_ns()}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--config", str(story.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=story.root,
            env={**os.environ, **(env or {})},
        )
    url = ""
    deadline = time.monotonic() + 30
    while not url and time.monotonic() < deadline and process.poll() is None:
        for line in log_path.read_text().splitlines():
            if "status: http://" in line:
                url = line.split("status: ", 1)[1].split()[0]
        time.sleep(0.02)
    assert url, "daemon did not start:\n" + log_path.read_text()
    try:
        yield process, url
    except BaseException:
        print(log_path.read_text())  # shown by pytest when the test fails
        raise
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def ready(url: str) -> bool:
    with urllib.request.urlopen(url + "readyz", timeout=5) as response:
        return bool(response.status == 200)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_for(check: Callable[[], bool], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError):
            pass  # not up yet, or a 503 while it starts
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def resource_states(url: str) -> dict[str, str]:
    """The first app's resources by name, with their states."""
    apps = get(url + "api/v1/apps?limit=1")["apps"]
    if not apps:
        return {}
    document = get(url + f"api/v1/apps/{apps[0]['name']}")
    return {name: r["state"] for name, r in document["resources"].items()}


API = "api: {host: 127.0.0.1, port: 0}\n"


def passes(url: str, repository: str = "apps") -> int:
    """Successful passes over ``repository`` so far (``innominatus_reconcile_total``)."""
    with urllib.request.urlopen(url + "metrics", timeout=5) as response:
        text = response.read().decode()
    wanted = f'innominatus_reconcile_total{{repository="{repository}",result="success"}} '
    for line in text.splitlines():
        if line.startswith(wanted):
            return int(float(line.removeprefix(wanted)))
    return 0


def after_passes(url: str, count: int = 3, *, repository: str = "apps") -> None:
    """Wait until the daemon has made ``count`` more passes over ``repository``: what a test
    proving that nothing happens waits for, instead of a fixed time."""
    start = passes(url, repository)
    wait_for(lambda: passes(url, repository) >= start + count, timeout=60)
