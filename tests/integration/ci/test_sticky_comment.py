"""The CI sticky-comment script against fake `gh` and `glab` on PATH: one comment per plan
part, found by its hidden marker, updated in place; parts no longer needed are deleted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "ci" / "sticky-comment.sh"

FAKE = """#!/usr/bin/env python3
import json, sys, os
log = os.environ["FAKE_LOG"]
with open(log, "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if "--method" not in args:
    listing = open(os.environ["FAKE_LIST"]).read()
    if sys.argv[0].endswith("glab"):  # GitLab answers JSON; the script extracts the marker
        notes = [line.split(" ", 1) for line in listing.splitlines() if line]
        listing = json.dumps([{"id": int(i), "body": "first\\n" + b} for i, b in notes])
    sys.stdout.write(listing)
"""


def run(tmp_path: Path, forge: str, existing: str, parts: int) -> list[list[str]]:
    if shutil.which("sh") is None:
        pytest.skip("needs a POSIX sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("gh", "glab"):
        (bin_dir / tool).write_text(FAKE)
        (bin_dir / tool).chmod(0o755)
    listing = tmp_path / "list.txt"
    listing.write_text(existing)
    files = []
    for number in range(1, parts + 1):
        body = tmp_path / f"plan-{number}.md"
        body.write_text(
            f"<!-- innominatus-plan -->\n<!-- innominatus-plan part {number} of {parts} -->\nbody\n"
        )
        files.append(str(body))
    log = tmp_path / "calls.jsonl"
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_LIST": str(listing),
        "GITHUB_REPOSITORY": "org/repo",
        "PR_NUMBER": "7",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "7",
    }
    done = subprocess.run(
        ["sh", str(SCRIPT), forge, *files], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    import json

    return [json.loads(line) for line in log.read_text().splitlines()]


def test_the_first_plan_creates_one_comment_per_part(tmp_path: Path) -> None:
    calls = run(tmp_path, "github", "11 some other comment\n", parts=2)
    posts = [c for c in calls if "POST" in c]
    assert len(posts) == 2
    assert all(c[-2:] == ["-F", f"body=@{tmp_path}/plan-{i}.md"] for i, c in enumerate(posts, 1))
    assert posts[0][:4] == ["api", "--method", "POST", "repos/org/repo/issues/7/comments"]


def test_a_new_plan_updates_the_sticky_comment_and_deletes_parts_it_no_longer_has(
    tmp_path: Path,
) -> None:
    existing = (
        "21 <!-- innominatus-plan part 1 of 2 -->\n"
        "22 <!-- innominatus-plan part 2 of 2 -->\n"
        "23 unrelated\n"
    )
    calls = run(tmp_path, "github", existing, parts=1)
    methods = [(c[2], c[3]) for c in calls if "--method" in c]
    assert methods == [
        ("PATCH", "repos/org/repo/issues/comments/21"),
        ("DELETE", "repos/org/repo/issues/comments/22"),
    ]


def test_gitlab_notes_work_the_same_way(tmp_path: Path) -> None:
    calls = run(tmp_path, "gitlab", "5 <!-- innominatus-plan part 1 of 1 -->\n", parts=1)
    assert [(c[2], c[3]) for c in calls if "--method" in c] == [
        ("PUT", "projects/42/merge_requests/7/notes/5")
    ]
