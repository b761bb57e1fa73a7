"""The CI examples and the pre-commit hook work when copied as they are (issue 12): they install
innominatus from its Git repository (the name is not published on PyPI) at a ref that exists,
call only commands and options the CLI has, and the hook's command line, run as pre-commit
runs it, validates the files it selects."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from reconciler.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "ci"
INSTALL = 'pip install --quiet "git+${INNOMINATUS_SOURCE_REPOSITORY}@${INNOMINATUS_SOURCE_REF}"'


def _github() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    return loaded


def _gitlab_job() -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())[
        "innominatus-plan"
    ]
    return job


def _scripts() -> dict[str, str]:
    """Every shell script of both examples, by where it is."""
    scripts = {
        f"github {step.get('name', step.get('uses'))}": step["run"]
        for step in _github()["jobs"]["plan"]["steps"]
        if "run" in step
    }
    job = _gitlab_job()
    for part in ("before_script", "script"):
        scripts[f"gitlab {part}"] = "\n".join(job[part])
    return scripts


def test_no_example_installs_the_unpublished_name_from_pypi() -> None:
    for where, script in _scripts().items():
        assert not re.search(r"pip install( --?\S+)* innominatus\b", script), where


def test_both_examples_install_from_the_repository_and_ref_named_at_their_top() -> None:
    github_env = _github()["env"]
    assert "INNOMINATUS_SOURCE_REPOSITORY" in github_env
    assert "'main'" in github_env["INNOMINATUS_SOURCE_REF"]
    install = _scripts()["github install"]
    assert 'pip install "git+${INNOMINATUS_SOURCE_REPOSITORY}@${INNOMINATUS_SOURCE_REF}"' in install

    variables = _gitlab_job()["variables"]
    assert variables["INNOMINATUS_SOURCE_REF"] == "main"
    assert variables["INNOMINATUS_SOURCE_REPOSITORY"].endswith("/innominatus.git")
    assert INSTALL in _gitlab_job()["before_script"]


def test_an_unset_repository_url_stops_the_job_with_what_to_set() -> None:
    """The placeholder URL fails at once with a message, not as a pip error."""
    for where in ("github install", "gitlab before_script"):
        script = _scripts()[where].split("pip install")[0]
        done = subprocess.run(
            ["sh", "-c", script],
            env={
                "PATH": os.environ["PATH"],
                "INNOMINATUS_SOURCE_REPOSITORY": "https://github.com/<org>/innominatus"
                if where.startswith("github")
                else _gitlab_job()["variables"]["INNOMINATUS_SOURCE_REPOSITORY"],
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1, where
        assert "set INNOMINATUS_SOURCE_REPOSITORY" in done.stdout, where


def test_the_default_ref_exists_in_this_repository() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    found = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", "main^{commit}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.skip("this checkout has no local main branch (a detached CI clone)")
    assert found.stdout.strip()


def _commands(script: str) -> list[list[str]]:
    joined = script.replace("\\\n", " ")
    found = []
    for raw in joined.splitlines():
        line = raw.strip().removeprefix("- ")
        if line.split(" ", 1)[0] == "innominatus":
            found.append(shlex.split(re.split(r" \|\| | && ", line)[0]))
    return found


def _options(command: click.Command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        names.update(param.opts)
        names.update(param.secondary_opts)
    return names


def test_every_innominatus_command_line_in_the_examples_exists_with_its_options() -> None:
    lines = [words for script in _scripts().values() for words in _commands(script)]
    assert ["innominatus", "--version"] in lines
    assert any(words[1] == "plan" for words in lines if len(words) > 1)
    for words in lines:
        command: click.Command = main
        context = click.Context(main)
        rest = words[1:]
        while rest and isinstance(command, click.Group) and not rest[0].startswith("-"):
            sub = command.get_command(context, rest[0])
            assert sub is not None, f"no command {rest[0]!r}: {' '.join(words)}"
            command, rest = sub, rest[1:]
        for word in rest:
            if word.startswith("-"):
                assert word.split("=")[0] in _options(command), f"{word}: {' '.join(words)}"


# --- the pre-commit hook -----------------------------------------------------------------------


def _hook() -> dict[str, Any]:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "innominatus-validate"
    loaded: dict[str, Any] = hook
    return loaded


def test_the_hook_installs_this_repository_whose_package_provides_its_entry() -> None:
    hook = _hook()
    assert hook["language"] == "python"  # pre-commit pip-installs the hook's repository
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert shlex.split(hook["entry"])[0] in project["scripts"]


def _selected(repository: Path, hook: dict[str, Any]) -> list[str]:
    """The staged files pre-commit hands the hook: `files` matches and `types: [yaml]`."""
    assert hook["types"] == ["yaml"]
    pattern = re.compile(hook["files"])
    return sorted(
        path.relative_to(repository).as_posix()
        for path in repository.rglob("*")
        if path.is_file()
        and path.suffix in (".yaml", ".yml")
        and pattern.search(path.relative_to(repository).as_posix())
    )


SCORE = """\
apiVersion: score.dev/v1b1
metadata:
  name: {name}
containers:
  web:
    image: nginx:1.27
"""


def _run_hook(repository: Path, hook: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    command = [*shlex.split(hook["entry"]), *hook.get("args", []), *_selected(repository, hook)]
    return subprocess.run(
        command,
        cwd=repository,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )


def test_the_hook_validates_the_files_it_selects_as_pre_commit_runs_it(tmp_path: Path) -> None:
    hook = _hook()
    (tmp_path / "apps" / "shop").mkdir(parents=True)
    (tmp_path / "apps" / "shop" / "score.yaml").write_text(SCORE.format(name="shop"))
    (tmp_path / "apps" / "cart.score.yaml").write_text(SCORE.format(name="cart"))
    shutil.copytree(ROOT / "providers" / "dns", tmp_path / "platform" / "dns")
    (tmp_path / "innominatus.yaml").write_text("database: sqlite:///state.db\n")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "ci.yml").write_text("on: push\n")

    selected = _selected(tmp_path, hook)
    assert "apps/shop/score.yaml" in selected
    assert "apps/cart.score.yaml" in selected
    assert "platform/dns/provider.yaml" in selected
    assert any(s.startswith("platform/dns/workflows/") for s in selected)
    assert "innominatus.yaml" not in selected
    assert ".github/ci.yml" not in selected

    passed = _run_hook(tmp_path, hook)
    assert passed.returncode == 0, passed.stdout + passed.stderr

    (tmp_path / "apps" / "shop" / "score.yaml").write_text(
        SCORE.format(name="shop").replace("containers:", "containerz:")
    )
    failed = _run_hook(tmp_path, hook)
    assert failed.returncode == 1
    assert "apps/shop/score.yaml:" in failed.stdout + failed.stderr
