"""The floors the scale figures are read against (``bench_scale.py`` prints each beside its
figure): the least work any implementation on this machine must do for it, measured in the
same run.

- desired state of N files: list the tree and read every Score file with one
  ``git cat-file --batch``, then parse each with libyaml (``yaml.CSafeLoader``);
- one file changed: ``git diff-tree`` of the last commit, read and parse that one file;
- a process start: ``python -c "import reconciler.assembly.runtime"`` (what any command of the
  daemon imports before it can work);
- a step: spawning ``true`` as a subprocess, one after another (the per-step cost no
  executor avoids), as starts per second;
- the HTTP stack: the same load client against ``/healthz`` of the same daemon.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.gitutil import GIT_ENV


def _git(work: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", "-C", str(work), *args], input=stdin, capture_output=True, check=True, env=GIT_ENV
    ).stdout


def _read_parse(work: Path, blobs: list[str]) -> None:
    """Read blobs by id with one ``cat-file --batch`` (by id: ``<commit>:<path>`` names make
    git walk the tree once per name) and parse each."""
    out = _git(work, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs).encode())
    position = 0
    for _ in blobs:
        header_end = out.index(b"\n", position)
        size = int(out[position:header_end].split()[2])
        body = out[header_end + 1 : header_end + 1 + size]
        position = header_end + 1 + size + 1
        yaml.load(body, Loader=yaml.CSafeLoader)


def _blobs(listing: bytes) -> list[str]:
    """Blob ids of the Score files in ``ls-tree``/``diff-tree`` raw output."""
    found = []
    for line in listing.decode().splitlines():
        meta, _, path = line.partition("\t")
        if path.endswith("score.yaml"):
            found.append(meta.split()[-2] if meta.startswith(":") else meta.split()[2])
    return found


def desired_state(work: Path) -> float:
    """Seconds to list, read and parse every Score file at the tip of ``work``."""
    started = time.perf_counter()
    _read_parse(work, _blobs(_git(work, "ls-tree", "-r", "HEAD")))
    return time.perf_counter() - started


def one_file_changed(work: Path) -> float:
    """Seconds to find the files the last commit changed and read and parse them."""
    started = time.perf_counter()
    changed = _git(work, "diff-tree", "-r", "--no-commit-id", "HEAD~1", "HEAD")
    _read_parse(work, _blobs(changed))
    return time.perf_counter() - started


def process_start() -> float:
    """Seconds for a Python process to import the daemon's runtime."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import reconciler.assembly.runtime"], check=True, cwd=Path.cwd()
    )
    return time.perf_counter() - started


def step_spawns(count: int = 200) -> float:
    """``true`` subprocesses started and waited for per second, one after another."""
    started = time.perf_counter()
    for _ in range(count):
        subprocess.run(["true"], check=True)
    return count / (time.perf_counter() - started)
