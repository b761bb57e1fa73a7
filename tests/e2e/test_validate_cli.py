"""`innominatus validate`: Score files and provider folders offline, file:line errors, exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_the_bundled_examples_are_valid() -> None:
    result = validate("examples")
    assert result.returncode == 0, result.stderr
    assert "0 invalid" in result.stdout


def test_a_broken_score_file_fails_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "score.yaml"
    bad.write_text(
        "apiVersion: score.dev/v1b1\nmetadata:\n  name: A\ncontainers: {web: {image: x}}\n"
    )
    result = validate(str(bad), "--output", "json")
    assert result.returncode == 1
    [entry] = json.loads(result.stdout)["files"]
    assert entry["error"].startswith(f"{bad}:3:")


def test_files_inside_a_provider_validate_the_whole_provider(tmp_path: Path) -> None:
    workflow = ROOT / "examples/quickstart/providers/local/workflows/create-local-db.yaml"
    result = validate(str(workflow), "--output", "json")
    assert result.returncode == 0, result.stdout
    [entry] = json.loads(result.stdout)["files"]
    assert entry["kind"] == "provider"


def test_an_invalid_provider_is_reported(shared: Path) -> None:
    result = validate(str(shared / "corpus/innominatus/providers/builtin"))
    assert result.returncode == 1
    assert "declares no workflows and claims no resource type" in result.stderr
