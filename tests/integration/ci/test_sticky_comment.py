"""examples/ci/sticky-comment.sh against fake `gh` and `curl` on PATH that keep a pull
request's comments in a JSON file: one sticky comment found by its hidden marker, updated in
place, parts added and removed as the plan grows and shrinks, other comments untouched."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.tools import require_tool

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "ci" / "sticky-comment.sh"
MARKER = "<!-- innominatus-plan -->"

_STORE = """
import json, os, sys
STATE = os.environ["FORGE_STATE"]
def load():
    return json.load(open(STATE))
def save(state):
    json.dump(state, open(STATE, "w"))
def log(entry):
    with open(os.environ["FORGE_LOG"], "a") as handle:
        handle.write(json.dumps(entry) + "\\n")
def create(body):
    state = load()
    state["next"] += 1
    state["comments"].append({"id": state["next"], "body": body})
    save(state)
def update(ident, body):
    state = load()
    for comment in state["comments"]:
        if comment["id"] == ident:
            comment["body"] = body
    save(state)
def delete(ident):
    state = load()
    state["comments"] = [c for c in state["comments"] if c["id"] != ident]
    save(state)
"""

FAKE_GH = (
    "#!/usr/bin/env python3"
    + _STORE
    + """
import subprocess
args = sys.argv[1:]
log(args)
if os.environ.get("FORGE_FAIL"):
    sys.exit("gh: HTTP 401: Bad credentials")
def option(name):
    return args[args.index(name) + 1] if name in args else None
method = option("--method") or "GET"
path = next(a for a in args[1:] if a.startswith("repos/"))
body = option("-F")
body = open(body.removeprefix("body=@")).read() if body else None
if method == "GET":
    listing = json.dumps(load()["comments"])
    jq = ["jq", "-r", option("--jq")]
    sys.stdout.write(subprocess.run(jq, input=listing, text=True, capture_output=True).stdout)
elif method == "POST":
    create(body)
elif method == "PATCH":
    update(int(path.rsplit("/", 1)[1]), body)
elif method == "DELETE":
    delete(int(path.rsplit("/", 1)[1]))
"""
)

FAKE_CURL = (
    "#!/usr/bin/env python3"
    + _STORE
    + """
from urllib.parse import parse_qs, urlsplit
args = sys.argv[1:]
config = sys.stdin.read() if "--config" in args else ""
log({"argv": args, "config": config})
if 'header = "PRIVATE-TOKEN: ' + os.environ["GITLAB_TOKEN"] + '"' not in config:
    sys.exit(22)
method = args[args.index("--request") + 1]
url = args[args.index("--request") + 2]
body = None
if "--data-urlencode" in args:
    body = open(args[args.index("--data-urlencode") + 1].removeprefix("body@")).read()
split = urlsplit(url)
if method == "GET":
    query = parse_qs(split.query)
    size, page = int(query["per_page"][0]), int(query["page"][0])
    notes = sorted(load()["comments"], key=lambda c: c["id"])
    sys.stdout.write(json.dumps(notes[(page - 1) * size : page * size]))
elif method == "POST":
    create(body)
elif method == "PUT":
    update(int(split.path.rsplit("/", 1)[1]), body)
elif method == "DELETE":
    delete(int(split.path.rsplit("/", 1)[1]))
"""
)


@dataclass
class Forge:
    """A fake GitHub or GitLab holding one pull request's comments."""

    root: Path
    kind: str

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    def comments(self) -> list[dict[str, object]]:
        loaded: list[dict[str, object]] = json.loads(self.state.read_text())["comments"]
        return loaded

    def calls(self) -> list[Any]:
        log = self.root / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.root / 'bin'}:{os.environ['PATH']}",
            "FORGE_STATE": str(self.state),
            "FORGE_LOG": str(self.root / "calls.jsonl"),
            "GITHUB_REPOSITORY": "org/apps",
            "PR_NUMBER": "7",
            "GH_TOKEN": "gh-token",
            "GITLAB_TOKEN": "glpat-secret-token",
            "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "7",
            **extra,
        }

    def post(
        self, *bodies: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the script with one part file per body."""
        parts = []
        for number, body in enumerate(bodies, start=1):
            part = self.root / "plan" / f"plan-{number}.md"
            part.parent.mkdir(exist_ok=True)
            part.write_text(body)
            parts.append(str(part))
        return subprocess.run(
            ["sh", str(SCRIPT), self.kind, *parts],
            env=env or self.env(),
            capture_output=True,
            text=True,
            check=False,
        )


def make_forge(root: Path, kind: str, comments: list[dict[str, object]] | None = None) -> Forge:
    require_tool("sh", how="the script needs a POSIX sh (`apt-get install dash`)")
    if kind == "github":
        require_tool("jq", how="the fake gh evaluates --jq with it: `apt-get install jq`")
    (root / "bin").mkdir(parents=True)
    for name, text in (("gh", FAKE_GH), ("curl", FAKE_CURL)):
        (root / "bin" / name).write_text(text)
        (root / "bin" / name).chmod(0o755)
    known = comments or []
    state = {"next": max([100, *(int(str(c["id"])) for c in known)]), "comments": known}
    (root / "state.json").write_text(json.dumps(state))
    return Forge(root, kind)


def plan_body(text: str, part: int = 1, of: int = 1) -> str:
    return f"{MARKER}\n<!-- innominatus-plan part {part} of {of} -->\n{text}\n"


OTHER = {"id": 5, "body": "LGTM, but see the plan"}


@pytest.fixture(params=["github", "gitlab"])
def forge(request: pytest.FixtureRequest, tmp_path: Path) -> Forge:
    return make_forge(tmp_path, request.param, [dict(OTHER)])


def test_the_first_plan_creates_one_comment(forge: Forge) -> None:
    done = forge.post(plan_body("Plan: 1 to create"))
    assert done.returncode == 0, done.stderr
    assert forge.comments() == [OTHER, {"id": 101, "body": plan_body("Plan: 1 to create")}]


def test_the_next_plan_updates_the_same_comment(forge: Forge) -> None:
    forge.post(plan_body("Plan: 1 to create"))
    done = forge.post(plan_body("No changes."))
    assert done.returncode == 0, done.stderr
    assert forge.comments() == [OTHER, {"id": 101, "body": plan_body("No changes.")}]


def test_a_longer_plan_adds_parts_and_a_shorter_one_removes_them(forge: Forge) -> None:
    forge.post(plan_body("one"))
    forge.post(plan_body("one", 1, 3), plan_body("two", 2, 3), plan_body("three", 3, 3))
    assert [c["id"] for c in forge.comments()] == [5, 101, 102, 103]
    forge.post(plan_body("only", 1, 1))
    assert forge.comments() == [OTHER, {"id": 101, "body": plan_body("only", 1, 1)}]


def test_comments_merely_quoting_the_marker_are_left_alone(forge: Forge) -> None:
    quoting = {"id": 9, "body": f"> {MARKER}\n> why does it say this?"}
    forge.state.write_text(json.dumps({"next": 100, "comments": [quoting]}))
    forge.post(plan_body("Plan"))
    assert forge.comments() == [quoting, {"id": 101, "body": plan_body("Plan")}]


def test_gitlab_notes_are_read_page_by_page_and_the_token_never_reaches_argv(
    tmp_path: Path,
) -> None:
    many = [{"id": i, "body": f"note {i}"} for i in range(1, 151)]
    forge = make_forge(tmp_path, "gitlab", [*many, {"id": 160, "body": plan_body("old")}])
    done = forge.post(plan_body("new"))
    assert done.returncode == 0, done.stderr
    assert forge.comments()[-1] == {"id": 160, "body": plan_body("new")}
    assert len(forge.comments()) == 151
    calls = forge.calls()
    assert all("glpat-secret-token" not in " ".join(c["argv"]) for c in calls)
    gets = [c for c in calls if "GET" in c["argv"]]
    assert len(gets) == 2


def test_a_failing_listing_stops_before_posting_anything(tmp_path: Path) -> None:
    forge = make_forge(tmp_path, "github", [dict(OTHER)])
    done = forge.post(plan_body("Plan"), env=forge.env(FORGE_FAIL="1"))
    assert done.returncode != 0
    assert forge.comments() == [OTHER]
    assert not [c for c in forge.calls() if "POST" in c]


def test_a_missing_part_file_says_the_plan_failed(tmp_path: Path) -> None:
    forge = make_forge(tmp_path, "github")
    done = subprocess.run(
        ["sh", str(SCRIPT), "github", str(tmp_path / "plan" / "plan-*.md")],
        env=forge.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "did innominatus plan fail" in done.stderr
    assert forge.calls() == []


def test_an_unknown_forge_is_a_usage_error(tmp_path: Path) -> None:
    forge = make_forge(tmp_path, "github")
    done = subprocess.run(
        ["sh", str(SCRIPT), "bitbucket", "x.md"],
        env=forge.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "usage:" in done.stderr
