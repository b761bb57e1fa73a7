"""Benchmark: what an idle poll of a remote repository costs (issue 13: cheap change checks).

    .venv/bin/python tests/benchmarks/bench_sources.py [--files N] [--polls N] [--smoke]

A repository of N Score-sized files is served by ``git daemon`` on 127.0.0.1 (the git://
transport, a real TCP connection per request) behind a byte-counting TCP relay. A mirror
fetches it once (the first pass), then polls it N times while nothing changes: first as every
poll did at first (a full ``git fetch`` of every branch), then as the first cheap check did (a
``git ls-remote --heads``, which lists every branch: git cannot send a pattern's prefix to the
server), then with the cheap change check (one fetch of only the branch and the status branch:
protocol v2 lists just those refs and sends objects only when one moved). The table shows git
requests by op, bytes on the wire and wall time per idle poll, and one poll after a push.
``--smoke`` (what CI runs): 20 files, 5 polls.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reconciler.sources.git import GitMirror  # noqa: E402


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Relay:
    """A TCP relay 127.0.0.1:port -> target that counts the bytes both ways."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.bytes = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    self.bytes += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()


@contextmanager
def git_daemon(base: Path) -> Iterator[int]:
    port = _free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("git daemon did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _polls(
    mirror: GitMirror, relay: Relay, polls: int, *, how: str
) -> tuple[Counter[str], int, float]:
    """(requests by op, bytes, seconds) of ``polls`` polls of an unchanged remote, each a full
    fetch, an ``ls-remote --heads`` or the mirror's check."""
    ops: Counter[str] = Counter()
    mirror.on_request = lambda op, _result: ops.update([op])
    url = f"git://127.0.0.1:{relay.port}/apps.git"
    before = relay.bytes
    started = time.perf_counter()
    for _ in range(polls):
        if how == "ls-remote":
            subprocess.run(
                ["git", "ls-remote", "--heads", url, "main"], check=True, capture_output=True
            )
            ops.update(["ls-remote"])
        else:
            mirror.fetch(if_moved=["innominatus-status"] if how == "check" else None)
    elapsed = time.perf_counter() - started
    time.sleep(0.1)  # the relay's threads finish counting the last connection
    return ops, relay.bytes - before, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--polls", type=int, default=50)
    parser.add_argument("--branches", type=int, default=200, help="other branches served")
    parser.add_argument("--smoke", action="store_true", help="20 files, 5 polls (CI)")
    args = parser.parse_args()
    files, polls = (20, 5) if args.smoke else (args.files, args.polls)
    branches = 3 if args.smoke else args.branches
    if shutil.which("git") is None:
        print("git daemon: skipped (git is not installed)")
        return

    with tempfile.TemporaryDirectory(prefix="bench-sources-") as folder:
        root = Path(folder)
        work = root / "work"
        work.mkdir()
        _git(work, "init", "-q", "-b", "main")
        for i in range(files):
            (work / "apps" / f"app{i:05d}").mkdir(parents=True)
            (work / "apps" / f"app{i:05d}" / "score.yaml").write_text(
                f"apiVersion: score.dev/v1b1\nmetadata:\n  name: app{i:05d}\n"
                "containers:\n  web:\n    image: nginx:1.27\n"
            )
        _git(work, "add", ".")
        _git(work, "commit", "-q", "-m", "apps")
        for i in range(branches):  # a full fetch and ls-remote list them all, the check none
            _git(work, "branch", f"feature/{i:04d}")
        served = root / "served"
        served.mkdir()
        _git(root, "clone", "-q", "--bare", str(work), str(served / "apps.git"))
        _git(work, "remote", "add", "origin", str(served / "apps.git"))

        with git_daemon(served) as port:
            relay = Relay(port)
            mirror = GitMirror(
                name="apps",
                url=f"git://127.0.0.1:{relay.port}/apps.git",
                branch="main",
                data_dir=root / "data",
            )
            try:
                first = relay.bytes
                mirror.fetch()  # the first pass: a full fetch
                first = relay.bytes - first
                rows = []
                for label, how in (
                    ("at first: full fetch", "fetch"),
                    ("then: ls-remote --heads", "ls-remote"),
                    ("now: check of the followed branches", "check"),
                ):
                    ops, sent, elapsed = _polls(mirror, relay, polls, how=how)
                    rows.append((label, ops, sent, elapsed))
                (work / "apps" / "app00000" / "score.yaml").write_text("changed: true\n")
                _git(work, "commit", "-q", "-am", "change")
                _git(work, "push", "-q", "origin", "main")
                pushed = _polls(mirror, relay, 1, how="check")
                tip = mirror.branch_tip("main")
                assert tip == _git(work, "rev-parse", "HEAD").strip(), "the push was not seen"
            finally:
                mirror.close()
                relay.close()

        print(
            f"repository: {files} files, {branches} other branches, first fetch {first:,} "
            f"bytes; {polls} idle polls"
        )
        print(
            f"{'figure (per idle poll, git:// on 127.0.0.1)':<44} {'measured':>9} "
            f"{'fetch':>6} {'ls-remote':>9} {'check':>6} {'bytes':>8}"
        )
        for label, counts, sent, elapsed in rows:
            print(
                f"{label:<44} {elapsed / polls * 1000:>6.1f} ms "
                f"{counts['fetch'] / polls:>6.1f} {counts['ls-remote'] / polls:>9.1f} "
                f"{counts['check'] / polls:>6.1f} {sent / polls:>8.0f}"
            )
        ops, sent, elapsed = pushed
        print(
            f"{'after a push: the check brings it':<44} {elapsed * 1000:>6.1f} ms "
            f"{ops['fetch']:>6.1f} {ops['ls-remote']:>9.1f} {ops['check']:>6.1f} {sent:>8.0f}"
        )
        full, listed, checked = rows[0], rows[1], rows[2]
        assert checked[1]["fetch"] == 0, "an idle poll with the cheap check fetched every branch"
        assert full[1]["fetch"] == polls
        assert checked[2] < listed[2], "the check should cost fewer bytes than listing the heads"


if __name__ == "__main__":
    main()
