"""``innominatus providers init`` and ``providers test`` as a provider author runs them: the
console script's commands (in this process, and once as a real subprocess), a scaffolded
provider in ``tmp_path``, real reconcile passes in the throwaway directories ``providers test``
makes.

Each run gets its own ``TMPDIR`` (so ``tempfile.gettempdir()`` is a folder of this test);
leftovers are compared there, unaffected by other processes using the system's temporary
directory at the same time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from reconciler.providers.scaffold import scaffold
from tests.e2e.conftest import Cli

ROOT = Path(__file__).resolve().parents[2]


def write_provider(folder: Path, name: str = "my-queue") -> Path:
    """The files ``providers init`` makes for ``name``, written to ``folder``."""
    for relative, text in scaffold(name).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def shown(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


@pytest.mark.parametrize(
    "name",
    [
        "my-queue",
        "ab",
        "a" * 58,
    ],
)
def test_init_makes_a_provider_whose_tests_pass_as_made(cli: Cli, name: str) -> None:
    target = cli.cwd / "made"

    init = cli("providers", "init", name, "-d", str(target))

    assert init.returncode == 0, shown(init)
    assert init.stdout == (
        f"created provider {name} in {target}; next: innominatus providers test {target}\n"
    )
    assert (target / "provider.yaml").is_file()
    run = cli("providers", "test", str(target), process=name == "ab")  # the console script
    assert run.returncode == 0, shown(run)
    assert f"PASSED   a {name} is created, resized and deleted (" in run.stdout
    assert run.stdout.splitlines()[-1] == "1 passed"


def test_init_without_a_directory_creates_the_folder_named_after_the_provider(cli: Cli) -> None:
    result = cli("providers", "init", "cache")

    assert result.returncode == 0, shown(result)
    made = cli.cwd / "cache"
    written = {
        p.relative_to(made).as_posix(): p.read_text() for p in made.rglob("*") if p.is_file()
    }
    assert written == scaffold("cache")


def test_init_into_an_empty_existing_directory_is_fine(cli: Cli) -> None:
    target = cli.cwd / "empty"
    target.mkdir()

    result = cli("providers", "init", "cache", "-d", str(target))

    assert result.returncode == 0, shown(result)
    assert (target / "provider.yaml").is_file()


def test_init_into_a_non_empty_directory_exits_1_and_writes_nothing(cli: Cli) -> None:
    target = cli.cwd / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")

    result = cli("providers", "init", "cache", "-d", str(target))

    assert result.returncode == 1, shown(result)
    assert result.stderr == (
        f"error: {target} exists and is not empty; choose another --directory\n"
    )
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "mine\n"


def test_init_refuses_a_bad_name_and_writes_nothing(cli: Cli) -> None:
    result = cli("providers", "init", "My_Queue")

    assert result.returncode == 2, shown(result)
    assert "'My_Queue' is not a provider name; use 2 to 58 lower-case letters, digits and '-'" in (
        result.stderr
    )
    assert not (cli.cwd / "My_Queue").exists()


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "store: {size: small,",
            "store: {size: medium,",
            "create: store.size: 'small', expected 'medium'",
        ),
        (
            "store: {size: large}",
            "store: {size: huge}",
            "update: store.size: 'large', expected 'huge'",
        ),
        (
            "id: {matches: '^[0-9a-f]{16}$'}",
            "id: {matches: '^[0-9a-f]{8}$'}",
            "create: store.id: '{id}' does not match '^[0-9a-f]{8}$'",
        ),
        (
            "store: {size: large}",
            "store: {size: large, colour: blue}",
            "update: store.colour: missing (outputs: id, size)",
        ),
    ],
)
def test_a_wrong_expectation_fails_naming_the_stage_key_actual_and_expected_value(
    cli: Cli, old: str, new: str, problem: str
) -> None:
    folder = write_provider(cli.cwd / "p")
    edit(folder / "provider.yaml", old, new)

    result = cli("providers", "test", str(folder))

    assert result.returncode == 1, shown(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAILED   a my-queue is created, resized and deleted (")
    before, _, after = problem.partition("{id}")
    if after:  # the id is the resource UID's hash: any 16 hex digits
        assert re.fullmatch(
            " {9}" + re.escape(before) + "[0-9a-f]{16}" + re.escape(after), lines[1]
        ), lines[1]
    else:
        assert lines[1] == "         " + problem
    assert lines[-1] == "1 failed"


def test_a_case_requiring_an_unset_variable_is_skipped_naming_it(cli: Cli) -> None:
    variable = f"QUEUE_ADMIN_{uuid.uuid4().hex[:8].upper()}"
    folder = write_provider(cli.cwd / "p")
    edit(
        folder / "provider.yaml",
        "    score: tests/app.score.yaml\n",
        f"    score: tests/app.score.yaml\n    requires_env: [{variable}]\n",
    )

    skipped = cli("providers", "test", str(folder))
    ran = cli("providers", "test", str(folder), env={variable: "set"})

    assert skipped.returncode == 0, shown(skipped)
    assert skipped.stdout.splitlines() == [
        "SKIPPED  a my-queue is created, resized and deleted (0.0s)",
        f"         needs environment variable {variable}; export it to run this case",
        "1 skipped",
    ]
    assert ran.returncode == 0, shown(ran)
    assert ran.stdout.splitlines()[-1] == "1 passed"


SECOND_CASE = """\
  - name: a large store from the start
    score: tests/app-bigger.score.yaml
    expect:
      outputs:
        store: {size: large}
"""


def test_case_runs_only_the_cases_whose_name_contains_the_text(cli: Cli) -> None:
    folder = write_provider(cli.cwd / "p")
    with (folder / "provider.yaml").open("a") as manifest:
        manifest.write(SECOND_CASE)

    everything = cli("providers", "test", str(folder))
    only = cli("providers", "test", str(folder), "--case", "large store")
    none = cli("providers", "test", str(folder), "--case", "no such case")

    assert everything.returncode == 0, shown(everything)
    assert [line.split(" (")[0] for line in everything.stdout.splitlines()] == [
        "PASSED   a my-queue is created, resized and deleted",
        "PASSED   a large store from the start",
        "2 passed",
    ]
    assert only.returncode == 0, shown(only)
    assert [line.split(" (")[0] for line in only.stdout.splitlines()] == [
        "PASSED   a large store from the start",
        "1 passed",
    ]
    assert none.returncode == 1, shown(none)
    assert none.stderr == "no test case name contains 'no such case'\n"


@pytest.fixture
def dns_copy(tmp_path: Path) -> Path:
    """The built-in dns provider (its case installs domain apps.example.test), copied."""
    return Path(shutil.copytree(ROOT / "providers" / "dns", tmp_path / "dns"))


def test_a_parameter_option_overrides_the_installation_parameter_of_a_case(
    cli: Cli, dns_copy: Path
) -> None:
    result = cli("providers", "test", str(dns_copy), "-p", "domain=other.example.test")

    assert result.returncode == 1, shown(result)
    assert "         create: dns.domain: 'other.example.test', expected 'apps.example.test'" in (
        result.stdout.splitlines()
    )


def test_a_parameter_option_adds_an_installation_parameter_the_case_does_not_set(
    cli: Cli, dns_copy: Path
) -> None:
    hosts = cli.cwd / "hosts-folder" / "hosts"  # apart from the case's scratch (in TMPDIR)
    hosts.parent.mkdir()

    result = cli("providers", "test", str(dns_copy), "--parameter", f"hosts_file={hosts}")

    assert result.returncode == 0, shown(result)
    assert result.stdout.splitlines()[-1] == "1 passed"
    # assign-hostname wrote its line there, release-hostname removed it again.
    assert hosts.is_file()
    assert hosts.read_text() == ""


def test_a_failing_case_still_deletes_what_it_created(cli: Cli, dns_copy: Path) -> None:
    hosts = cli.cwd / "hosts-folder" / "hosts"  # apart from the case's scratch (in TMPDIR)
    hosts.parent.mkdir()

    result = cli(
        "providers",
        "test",
        str(dns_copy),
        "-p",
        "domain=other.example.test",
        "-p",
        f"hosts_file={hosts}",
    )

    assert result.returncode == 1, shown(result)
    assert "expected 'apps.example.test'" in result.stdout
    # The create stage wrote a line (the case failed on its outputs, not its steps);
    # the delete stage ran anyway and removed it.
    assert hosts.is_file()
    assert hosts.read_text() == ""


def test_a_parameter_option_that_is_not_key_value_is_a_usage_error(
    cli: Cli, dns_copy: Path
) -> None:
    result = cli("providers", "test", str(dns_copy), "-p", "domain")

    assert result.returncode == 2, shown(result)
    assert "'domain' is not KEY=VALUE" in result.stderr
    assert cli.leftovers() == set()


def test_a_failing_create_step_is_reported_with_the_steps_error(cli: Cli) -> None:
    folder = write_provider(cli.cwd / "p")
    edit(
        folder / "workflows" / "create.yaml",
        "set -eu\n",
        'set -eu\n        echo "quota exceeded for $INNOMINATUS_RESOURCE" >&2; exit 3\n',
    )

    result = cli("providers", "test", str(folder))

    assert result.returncode == 1, shown(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAILED   a my-queue is created, resized and deleted (")
    assert lines[1].startswith("         create: app my-queue-test is Failed, expected Ready (")
    assert (
        "           create-my-queue (create of my-queue.default#my-queue-test.store): step "
        "'create' failed: exit code 3: quota exceeded for store"
    ) in lines
    assert lines[-1] == "1 failed"


def test_a_provider_without_tests_exits_1_with_a_hint(cli: Cli) -> None:
    folder = write_provider(cli.cwd / "p")
    manifest = folder / "provider.yaml"
    manifest.write_text(manifest.read_text().split("tests:\n")[0])

    result = cli("providers", "test", str(folder))

    assert result.returncode == 1, shown(result)
    assert result.stdout == ""
    assert result.stderr == (
        f"{folder}: provider my-queue declares no tests; add cases under `tests:` in "
        "provider.yaml (see `innominatus providers init`)\n"
    )


def test_an_invalid_provider_exits_1_with_file_and_line(cli: Cli) -> None:
    folder = write_provider(cli.cwd / "p")
    (folder / "workflows" / "delete.yaml").unlink()
    lines = (folder / "provider.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "file: ./workflows/delete.yaml" in text)

    result = cli("providers", "test", str(folder))

    assert result.returncode == 1, shown(result)
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"{folder}/provider.yaml:{line}:"
        f"{lines[line - 1].index('file:') + 1}: workflow 'delete-my-queue': file "
        "./workflows/delete.yaml not found"
    )
    assert cli.leftovers() == set()


def test_an_unknown_step_type_is_refused_before_any_case_runs(cli: Cli) -> None:
    folder = write_provider(cli.cwd / "p")
    edit(folder / "workflows" / "update.yaml", "type: shell", "type: shel")

    result = cli("providers", "test", str(folder))

    assert result.returncode == 1, shown(result)
    assert f"{folder}/workflows/update.yaml:" in result.stderr
    assert "has unknown type 'shel'; known step types: " in result.stderr
    assert "PASSED" not in result.stdout


def test_an_invalid_case_score_file_is_reported_with_its_problem(cli: Cli) -> None:
    folder = write_provider(cli.cwd / "p")
    edit(folder / "tests" / "app.score.yaml", "    type: my-queue", "    type: my_queue!")

    result = cli("providers", "test", str(folder))

    assert result.returncode == 1, shown(result)
    assert "/resources/store/type" in result.stdout


@pytest.mark.parametrize("fails", [False, True], ids=["passing", "failing"])
def test_providers_test_leaves_no_temporary_directory_behind(cli: Cli, fails: bool) -> None:
    folder = write_provider(cli.cwd / "p")
    if fails:
        edit(folder / "provider.yaml", "store: {size: large}", "store: {size: huge}")
    before = cli.leftovers()

    result = cli("providers", "test", str(folder))

    assert result.returncode == (1 if fails else 0), shown(result)
    assert before == set()
    assert cli.leftovers() == set()


def test_keep_leaves_each_cases_directory_and_says_where(cli: Cli) -> None:
    folder = write_provider(cli.cwd / "p")
    with (folder / "provider.yaml").open("a") as manifest:
        manifest.write(SECOND_CASE)

    result = cli("providers", "test", str(folder), "--keep")

    assert result.returncode == 0, shown(result)
    kept = cli.leftovers()
    assert len(kept) == 2
    lines = result.stdout.splitlines()
    assert sorted(line.strip() for line in lines if "kept in" in line) == sorted(
        f"kept in {cli.tmpdir / name}" for name in kept
    )
    for name in kept:
        assert (cli.tmpdir / name / "repo" / ".git").is_dir()
        assert (cli.tmpdir / name / "state.db").is_file()
