"""The console script behaves like kubectl, flux and terraform (issue 12, "A CLI that feels
native"): it finds the configuration as the daemon does, never creates state when it only
looks, prints plain tables when piped, fits a terminal, answers `-h` everywhere, completes in
the shell, waits for states, and ends every expected failure with one `error:` line and a
meaningful exit code. Each test runs the installed `innominatus` script as a user would."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import reconciler
from reconciler.settings import SYSTEM_CONFIG
from tests.e2e.conftest import SCORE, Story, make_story

INNOMINATUS = str(Path(sys.executable).parent / "innominatus")
APP = "apps/shop/score.yaml"
# A second app that cannot become Ready: its resource's type is claimed by no provider.
CART = """\
apiVersion: score.dev/v1b1
metadata:
  name: cart
containers:
  web:
    image: nginx:1.27
resources:
  queue:
    type: nobody-provides-this
"""


def innominatus(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [*prefix, INNOMINATUS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env={**environment, **(env or {})},
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure as the user sees it: exactly one line, `error: ...`, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, result.stdout
    assert lines[-1].startswith("error: "), result.stderr
    return lines[-1]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """One reconciled installation on SQLite: `shop` Ready, `cart` not (read-only tests
    share it; none of them may change it)."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in (("NAME", "test"), ("EMAIL", "test@localhost")):
            env.setenv(f"GIT_AUTHOR_{key}", value)
            env.setenv(f"GIT_COMMITTER_{key}", value)
        env.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for key in [k for k in os.environ if k.startswith("INNOMINATUS_")]:
            env.delenv(key)
        root = tmp_path_factory.mktemp("shop")
        story = make_story(root, f"sqlite:///{root / 'state.db'}")
        story.commit({APP: SCORE.format(size="small"), "apps/cart/score.yaml": CART}, "apps")
        result = innominatus("reconcile", "-c", str(story.config), cwd=root, timeout=120)
        assert "shop: Ready" in result.stdout, result.stdout + result.stderr
        assert "cart: Ready" not in result.stdout, result.stdout
        yield story


# --- --version and start-up cost ----------------------------------------------------------


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = innominatus("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == f"innominatus, version {reconciler.__version__}\n"


LOADED = """
import sys
from reconciler.cli import main
try:
    main(sys.argv[1:], prog_name="innominatus")
except SystemExit:
    pass
print("MODULES", " ".join(sorted(m for m in sys.modules if "." not in m)), file=sys.stderr)
"""


def loaded_modules(*args: str, cwd: Path) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", LOADED, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=60,
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


def test_version_imports_nothing_of_the_daemon(tmp_path: Path) -> None:
    loaded = loaded_modules("--version", cwd=tmp_path)
    assert not loaded & {"sqlalchemy", "alembic", "pydantic", "rich", "git", "uvicorn", "yaml"}


def test_status_imports_neither_migrations_nor_git_nor_the_web_server(shop: Story) -> None:
    loaded = loaded_modules("status", "-c", str(shop.config), cwd=shop.root)
    assert "sqlalchemy" in loaded  # it did read the database
    assert not loaded & {"alembic", "git", "uvicorn", "starlette", "apscheduler", "rich"}


def test_validate_imports_no_database_code(tmp_path: Path) -> None:
    score = tmp_path / "score.yaml"
    score.write_text(SCORE.format(size="small"))
    loaded = loaded_modules("validate", str(score), cwd=tmp_path)
    assert not loaded & {"sqlalchemy", "alembic", "git", "uvicorn", "rich"}


# --- configuration discovery ----------------------------------------------------------------


@pytest.fixture
def no_system_config() -> None:
    if SYSTEM_CONFIG.exists():
        pytest.skip(f"{SYSTEM_CONFIG} exists on this machine and would be found")


@pytest.mark.usefixtures("no_system_config")
@pytest.mark.parametrize(
    "command",
    [("status",), ("status", "shop"), ("executions", "list"), ("wait", "shop", "--timeout", "1s")],
)
def test_a_read_only_command_without_configuration_or_database_creates_nothing_and_says_why(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = innominatus(*command, cwd=tmp_path)

    assert result.returncode == 1
    error = one_error_line(result)
    assert "no database at .innominatus/state.db" in error
    assert "INNOMINATUS_CONFIG is unset" in error
    assert "./innominatus.yaml" in error
    assert "-c FILE" in error
    assert list(tmp_path.iterdir()) == []  # no ./.innominatus, no empty state.db


@pytest.mark.parametrize("command", [("retry", "shop"), ("confirm", "apps"), ("suspend", "apps")])
def test_a_command_that_writes_never_creates_the_database_either(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    (tmp_path / "innominatus.yaml").write_text("database: sqlite:///state/state.db\n")
    result = innominatus(*command, cwd=tmp_path)
    assert result.returncode == 1
    error = one_error_line(result)
    assert f"no database at {tmp_path / 'state' / 'state.db'}" in error
    assert "innominatus.yaml (found in the current directory)" in error
    assert "innominatus run" in error
    assert not (tmp_path / "state").exists()


def test_innominatus_yaml_in_the_current_directory_is_the_configuration(shop: Story) -> None:
    work = shop.root / "elsewhere"
    work.mkdir(exist_ok=True)
    shutil.copy(shop.config, work / "innominatus.yaml")  # its paths are absolute
    result = innominatus("status", "shop", "-o", "json", cwd=work)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["apps"][0]["phase"] == "Ready"


def test_innominatus_config_names_the_configuration(shop: Story, tmp_path: Path) -> None:
    result = innominatus(
        "status", "-o", "json", cwd=tmp_path, env={"INNOMINATUS_CONFIG": str(shop.config)}
    )
    assert result.returncode == 0, result.stderr
    assert {a["app"] for a in json.loads(result.stdout)["apps"]} == {"shop", "cart"}


@pytest.mark.usefixtures("no_system_config")
def test_db_upgrade_creates_the_database_and_says_what_it_used(tmp_path: Path) -> None:
    result = innominatus("db", "upgrade", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "configuration: no configuration file" in result.stderr
    assert f"database: {tmp_path / '.innominatus' / 'state.db'}" in result.stderr
    assert f"data dir: {tmp_path / '.innominatus'}" in result.stderr
    assert (tmp_path / ".innominatus" / "state.db").is_file()
    assert innominatus("status", cwd=tmp_path).returncode == 0  # and now it is found


def test_providers_list_of_folder_providers_creates_nothing(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "innominatus.yaml").write_text(
        f"providers:\n  - {{name: dns, type: filesystem, path: {root / 'providers' / 'dns'}}}\n"
    )
    result = innominatus("providers", "list", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p["name"] for p in json.loads(result.stdout)["providers"]] == ["dns"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["innominatus.yaml"]


# --- output -----------------------------------------------------------------------------------


def test_a_piped_table_is_plain_text_one_row_per_line(shop: Story) -> None:
    result = innominatus("status", "-c", str(shop.config), cwd=shop.root)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["APP", "PHASE", "RESOURCE", "TYPE", "STATE", "MESSAGE"]
    assert not set(result.stdout) & set("┏┃━│─┡╇└┴\x1b")
    assert any(line.split()[:2] == ["shop", "Ready"] for line in lines)
    assert any(line.split()[:3] == ["db", "test-db", "active"] for line in lines)
    assert all(line == line.rstrip() for line in lines)


def test_wide_output_adds_columns(shop: Story) -> None:
    narrow = innominatus("status", "-c", str(shop.config), cwd=shop.root).stdout
    wide = innominatus("status", "-o", "wide", "-c", str(shop.config), cwd=shop.root).stdout
    assert narrow.splitlines()[0].split()[-1] == "MESSAGE"
    assert wide.splitlines()[0].split()[-4:] == ["REPOSITORY", "COMMIT", "WORKFLOW", "UPDATED"]
    assert "test-team/create-test-db" in wide
    listed = innominatus("executions", "list", "-o", "wide", "-c", str(shop.config), cwd=shop.root)
    assert listed.stdout.splitlines()[0].split()[-4:] == ["FINISHED", "COMMIT", "REPLICA", "ERROR"]


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_json_and_yaml_are_the_api_documents(shop: Story, output: str) -> None:
    result = innominatus("executions", "list", "-o", output, "-c", str(shop.config), cwd=shop.root)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout) if output == "json" else yaml.safe_load(result.stdout)
    assert {e["workflow"] for e in document["executions"]} >= {"create-test-db"}


def test_a_table_on_a_terminal_fits_its_width(shop: Story) -> None:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    process = subprocess.Popen(
        [INNOMINATUS, "status", "-c", str(shop.config)],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
        cwd=shop.root,
        env={**environment, "TERM": "xterm-256color"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode())
    lines = [line for line in text.splitlines() if line.strip()]
    assert any("shop" in line for line in lines)
    assert max(len(line) for line in lines) <= 60


# --- help and completion -------------------------------------------------------------------


def _command_paths() -> list[tuple[str, ...]]:
    import click

    from reconciler.cli import main

    paths: list[tuple[str, ...]] = [()]
    context = click.Context(main)
    for name in main.list_commands(context):
        command = main.get_command(context, name)
        paths.append((name,))
        if isinstance(command, click.Group):
            paths += [(name, sub) for sub in command.list_commands(context)]
    return paths


def test_every_command_of_the_table_loads() -> None:
    from reconciler.cli.main import COMMANDS

    assert len(_command_paths()) > len(COMMANDS)


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "innominatus")
def test_every_command_answers_dash_h(path: tuple[str, ...], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from reconciler.cli import main

    result = CliRunner().invoke(main, [*path, "-h"], prog_name="innominatus")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {' '.join(['innominatus', *path])}")


def test_dash_h_still_works_after_a_command_was_invoked_on_its_own() -> None:
    # click builds a command's help option once and keeps it: a command first run on its own
    # (outside the root group, as a plugin host or a test would) must keep -h as well.
    from click.testing import CliRunner

    from reconciler.cli import main
    from reconciler.cli.validate import validate

    assert CliRunner().invoke(validate, ["-h"]).exit_code == 0
    result = CliRunner().invoke(main, ["validate", "-h"], prog_name="innominatus")
    assert result.exit_code == 0, result.output


def test_completion_prints_a_script_for_each_shell(tmp_path: Path) -> None:
    for shell in ("bash", "zsh", "fish"):
        result = innominatus("completion", shell, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "_INNOMINATUS_COMPLETE" in result.stdout


def test_completion_completes_commands_and_app_names(shop: Story) -> None:
    def complete(words: str) -> list[str]:
        result = innominatus(
            cwd=shop.root,
            env={
                "_INNOMINATUS_COMPLETE": "bash_complete",
                "COMP_WORDS": words,
                "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
                "INNOMINATUS_CONFIG": str(shop.config),
            },
        )
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]

    assert complete("innominatus st") == ["status"]
    assert complete("innominatus status s") == ["shop"]
    assert complete("innominatus wait ") == ["cart", "shop"]


# --- exit codes and the one error style ----------------------------------------------------


def test_status_of_a_ready_app_exits_0(shop: Story) -> None:
    assert innominatus("status", "shop", "-c", str(shop.config), cwd=shop.root).returncode == 0


def test_status_of_an_app_that_is_not_ready_exits_1_and_still_shows_it(shop: Story) -> None:
    result = innominatus("status", "cart", "-o", "json", "-c", str(shop.config), cwd=shop.root)
    assert result.returncode == 1
    assert json.loads(result.stdout)["apps"][0]["phase"] != "Ready"


def test_status_of_an_unknown_app_exits_1_saying_how_to_list_apps(shop: Story) -> None:
    result = innominatus("status", "nope", "-c", str(shop.config), cwd=shop.root)
    assert result.returncode == 1
    assert one_error_line(result) == "error: no app named 'nope'; `innominatus status` lists apps"


def test_retry_of_an_unknown_app_or_resource_exits_1(shop: Story) -> None:
    result = innominatus("retry", "nope", "-c", str(shop.config), cwd=shop.root)
    assert result.returncode == 1
    assert one_error_line(result) == "error: no app named 'nope'; `innominatus status` lists apps"
    result = innominatus("retry", "shop/nope", "-c", str(shop.config), cwd=shop.root)
    assert result.returncode == 1
    assert "app shop has no resource named 'nope'" in one_error_line(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("status", "--bogus"), "error: no such option '--bogus'; see `innominatus status -h`"),
        (("bogus",), "error: no such command 'bogus'; see `innominatus -h`"),
        (("wait",), "error: missing argument 'APP'; see `innominatus wait -h`"),
    ],
)
def test_usage_errors_exit_2_in_the_one_error_style(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = innominatus(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == message + "\n"


# --- wait --------------------------------------------------------------------------------------


def test_wait_for_ready_returns_at_once_when_the_app_is_ready(shop: Story) -> None:
    result = innominatus("wait", "shop", "--for", "Ready", "-c", str(shop.config), cwd=shop.root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "app shop: Ready (it is Ready)\n"


def test_wait_for_deleted_of_an_app_that_is_gone_returns_at_once(shop: Story) -> None:
    result = innominatus("wait", "gone", "--for", "Deleted", "-c", str(shop.config), cwd=shop.root)
    assert result.returncode == 0, result.stderr


def test_wait_times_out_with_exit_1_and_the_apps_last_message(shop: Story) -> None:
    started = time.monotonic()
    result = innominatus(
        "wait",
        "cart",
        "--timeout",
        "1s",
        "--interval",
        "0.2s",
        "-c",
        str(shop.config),
        cwd=shop.root,
    )
    assert result.returncode == 1
    error = one_error_line(result)
    assert error.startswith("error: timed out after 1s waiting for app cart to be Ready: it is ")
    assert "`innominatus status cart`" in error
    assert time.monotonic() - started < 30


def test_wait_returns_once_a_reconcile_makes_the_app_ready(tmp_path: Path) -> None:
    story = make_story(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    config = str(story.config)
    assert innominatus("db", "upgrade", "-c", config, cwd=tmp_path).returncode == 0
    story.commit({APP: SCORE.format(size="small")}, "shop")
    waiting = subprocess.Popen(
        [INNOMINATUS, "wait", "shop", "--timeout", "90s", "--interval", "0.2s", "-c", config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        reconciled = innominatus("reconcile", "-c", config, cwd=tmp_path, timeout=120)
        assert reconciled.returncode == 0, reconciled.stderr
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert out == "app shop: Ready (it is Ready)\n"


def test_wait_refuses_a_timeout_that_is_not_a_duration(tmp_path: Path) -> None:
    result = innominatus("wait", "shop", "--timeout", "soon", cwd=tmp_path)
    assert result.returncode == 2
    assert "'soon' is not a duration" in one_error_line(result)


# --- start-up failures ---------------------------------------------------------------------


def _config(folder: Path, **values: object) -> Path:
    config = folder / "cfg.yaml"
    config.write_text(yaml.safe_dump({"api": {"port": 0}, **values}))
    return config


def test_a_taken_api_port_is_one_error_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "cfg.yaml"
        config.write_text(f"api: {{host: 127.0.0.1, port: {port}}}\ndata_dir: data\n")
        result = innominatus("run", "-c", str(config), cwd=tmp_path)

    assert result.returncode == 1
    error = one_error_line(result)
    assert error.startswith(f"error: api.port: 127.0.0.1:{port} is already in use")
    assert "INNOMINATUS_API__PORT" in error
    assert not (tmp_path / "data" / "state.db").exists()  # it stopped before opening anything


def test_a_database_path_that_is_a_folder_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    config = _config(tmp_path, database=f"sqlite:///{tmp_path / 'db'}", data_dir="data")
    result = innominatus("reconcile", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert one_error_line(result).startswith(f"error: database: {tmp_path / 'db'} is a folder")


def test_a_data_dir_below_a_file_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    config = _config(tmp_path, data_dir="file/data")
    result = innominatus("run", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 1
    error = one_error_line(result)
    assert error.startswith(f"error: data_dir: cannot create {tmp_path / 'file' / 'data'}")
    assert "INNOMINATUS_DATA_DIR" in error


@dataclass
class Sandbox:
    """A folder and the command prefix of a user whom file modes bind. Root ignores modes, so
    as root the commands run as `nobody` (setpriv) in a folder it owns; otherwise as this
    user. Either way `chmod` here means what it means to an operator."""

    root: Path
    prefix: tuple[str, ...]
    uid: int

    def own(self, *paths: Path) -> None:
        for path in paths:
            if os.geteuid() == 0:
                os.chown(path, self.uid, self.uid)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file modes cannot be tested")
        uid = 65534
        prefix: tuple[str, ...] = (setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups")
    else:
        uid, prefix = os.geteuid(), ()
    root = Path(tempfile.mkdtemp(prefix="innominatus-modes-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(root, uid, uid)
    try:
        yield Sandbox(root=root, prefix=prefix, uid=uid)
    finally:
        for folder, dirs, _files in os.walk(root):
            for name in dirs:
                (Path(folder) / name).chmod(0o755)
        shutil.rmtree(root)


def _run_as(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return innominatus(*args, cwd=sandbox.root, prefix=sandbox.prefix, env={"HOME": "/nonexistent"})


def test_an_unwritable_data_dir_is_one_error_line(sandbox: Sandbox) -> None:
    locked = sandbox.root / "locked"
    locked.mkdir()
    config = _config(sandbox.root, data_dir=str(locked / "data"), database="sqlite:///db/s.db")
    sandbox.own(locked, config)
    locked.chmod(0o555)

    result = _run_as(sandbox, "reconcile", "-c", str(config))

    assert result.returncode == 1
    error = one_error_line(result)
    assert error.startswith(f"error: data_dir: cannot create {locked / 'data'}: Permission denied")
    assert "INNOMINATUS_DATA_DIR" in error


def test_an_unwritable_database_folder_is_one_error_line(sandbox: Sandbox) -> None:
    locked = sandbox.root / "locked"
    locked.mkdir()
    config = _config(sandbox.root, data_dir="data", database=f"sqlite:///{locked / 's.db'}")
    sandbox.own(locked, config)
    locked.chmod(0o555)

    result = _run_as(sandbox, "run", "-c", str(config))

    assert result.returncode == 1
    error = one_error_line(result)
    assert error.startswith(f"error: database: {locked} is not writable by this user")
    assert "INNOMINATUS_DATABASE" in error


def test_a_read_only_database_file_is_one_error_line_for_the_daemon(sandbox: Sandbox) -> None:
    config = _config(sandbox.root, data_dir="data", database="sqlite:///state/s.db")
    sandbox.own(config)
    assert _run_as(sandbox, "db", "upgrade", "-c", str(config)).returncode == 0
    (sandbox.root / "state" / "s.db").chmod(0o400)

    result = _run_as(sandbox, "reconcile", "-c", str(config))

    assert result.returncode == 1
    error = one_error_line(result)
    assert error.startswith(f"error: database: {sandbox.root / 'state' / 's.db'} is not writable")


def test_status_reads_a_database_in_a_read_only_folder(sandbox: Sandbox) -> None:
    """The operator's view of a daemon's state it may not write: the folder and file are
    read-only to this user, no -wal/-shm can be created, and status still answers (SQLite
    opened `mode=ro`, read as immutable when no writer holds it)."""
    config = _config(sandbox.root, data_dir="state", database="sqlite:///state/s.db")
    sandbox.own(config)
    assert _run_as(sandbox, "db", "upgrade", "-c", str(config)).returncode == 0
    state = sandbox.root / "state"
    (state / "s.db").chmod(0o400)
    state.chmod(0o555)

    for command in (("status",), ("executions", "list", "-o", "json"), ("status", "-o", "yaml")):
        result = _run_as(sandbox, *command, "-c", str(config))
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in state.iterdir()) == ["s.db", "s.db.migrate.lock"]
