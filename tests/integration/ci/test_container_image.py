"""The container image works as the README documents it (issue 14), as far as it can be checked
without a Docker engine, which neither this machine nor CI has: by reading the Dockerfile and
.dockerignore. Checked: a non-root user owning the data directory (the volume), the ports, the
HEALTHCHECK, the command, the default configuration copied to where the command reads it (the
API on all interfaces, the data and SQLite in the volume), the sources it copies, and that the
build context leaves out the virtualenv, Git and local state. Not checked here: that the image
builds and starts (`docker build -t innominatus . && docker run -p 8081:8081 innominatus`)."""

from __future__ import annotations

import fnmatch
import json
import shlex
from pathlib import Path, PurePosixPath

import pytest

from reconciler.executors.registry import default_registry
from reconciler.providers.registry import load_provider_set
from reconciler.settings import ProviderSourceSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
CONFIG_IN_IMAGE = "/etc/innominatus/config.yaml"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments out."""
    joined: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation"
    out = []
    for line in joined:
        word, _, rest = line.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _all(instruction: str) -> list[str]:
    return [rest for word, rest in _instructions() if word == instruction]


def _last(instruction: str) -> str:
    found = _all(instruction)
    assert found, f"the Dockerfile has no {instruction}"
    return found[-1]


def _exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"{arguments}: use the exec form (a JSON list)"
    return [str(item) for item in parsed]


def _env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in _all("ENV"):
        for pair in shlex.split(rest):
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def _image_config(tmp_path: Path) -> Settings:
    """config/container.yaml, copied to CONFIG_IN_IMAGE, loaded as the daemon there loads it:
    with the image's ENV."""
    copies = [shlex.split(rest) for rest in _all("COPY")]
    sources = [args[0] for args in copies if args[-1] == CONFIG_IN_IMAGE]
    assert sources == ["config/container.yaml"], "the image's default configuration"
    path = tmp_path / "config.yaml"
    path.write_text((ROOT / sources[0]).read_text())
    environ = {k: v for k, v in _env().items() if k != "INNOMINATUS_CONFIG"}
    return load_settings(path, environ=environ)


def test_the_image_runs_as_a_non_root_user_who_owns_the_data_directory() -> None:
    user = _last("USER")
    assert user == "innominatus"
    run = " ".join(_all("RUN"))
    assert "useradd --create-home --uid 10001 innominatus" in run  # deploy/: runAsUser 10001
    data_dir = _env()["INNOMINATUS_DATA_DIR"]
    assert data_dir == "/var/lib/innominatus"
    assert f"install -d -o {user} -g {user} -m 0700 {data_dir}" in run
    assert json.loads(_last("VOLUME")) == [data_dir]
    # Created (and chowned) before USER switches: as root, in a RUN above it.
    order = [word for word, _ in _instructions()]
    assert order.index("USER") > max(i for i, w in enumerate(order) if w == "RUN")


def test_the_image_exposes_the_api_and_the_webhook_receiver() -> None:
    assert _last("EXPOSE").split() == ["8081", "8082"]


def test_the_image_runs_the_daemon_on_the_config_it_ships(tmp_path: Path) -> None:
    command = _exec_form(_last("ENTRYPOINT")) + _exec_form(_last("CMD"))
    assert command == ["innominatus", "run", "--config", CONFIG_IN_IMAGE]
    assert _env()["INNOMINATUS_CONFIG"] == CONFIG_IN_IMAGE  # for the CLI in the container too
    settings = _image_config(tmp_path)
    assert settings.api.host == "0.0.0.0"  # reachable through a published port
    assert settings.webhooks.host == "0.0.0.0"
    assert (settings.api.port, settings.webhooks.port) == (8081, 8082)
    assert str(settings.data_dir) == _env()["INNOMINATUS_DATA_DIR"]
    database = Path(settings.database.removeprefix("sqlite:///"))
    assert database.parent == settings.data_dir  # SQLite in the volume, writable by the user


def test_the_shipped_config_installs_providers_the_image_copies(tmp_path: Path) -> None:
    settings = _image_config(tmp_path)
    workdir = PurePosixPath(_last("WORKDIR"))
    copied = {
        workdir / args[-1]: ROOT / args[0]
        for args in (shlex.split(rest) for rest in _all("COPY"))
        if len(args) == 2 and not args[-1].startswith("/")
    }
    sources = []
    for source in settings.providers:
        assert source.path is not None
        in_image = PurePosixPath(source.path)
        targets = [target for target in copied if in_image.is_relative_to(target)]
        assert targets, f"{in_image} is not copied into the image"
        local = copied[targets[0]] / in_image.relative_to(targets[0])
        sources.append(
            ProviderSourceSettings(name=source.name, path=local, parameters=source.parameters)
        )
    assert sources
    load_provider_set(sources, known_step_types=default_registry().known_types())


def test_the_healthcheck_asks_healthz_with_python_not_curl() -> None:
    healthcheck = _last("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval=" in options
    argv = _exec_form(command)
    assert argv[:2] == ["python", "-c"]
    code = argv[2]
    assert "urllib.request.urlopen('http://127.0.0.1:8081/healthz'" in code
    compile(code, "HEALTHCHECK", "exec")  # valid Python; urlopen raises (exit 1) on an error


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves ``path`` out of the build context (its patterns as Docker
    reads them, for the plain patterns used there: a match of the path or of a parent folder,
    ``**/`` for any depth; no ``!`` exceptions)."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        assert not pattern.startswith("!"), "exceptions are not understood by this test"
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(
                PurePosixPath(prefix).name, pattern[3:]
            ):
                return True
    return False


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        ".innominatus/state.db",
        "examples/quickstart/.work/state.db",
        "reconciler/__pycache__/settings.cpython-311.pyc",
        "tests/unit/test_x.py",
        ".pytest_cache/v/cache",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/x",
        ".hypothesis/examples/x",
        "innominatus.egg-info/PKG-INFO",
        "secret.key",
    ],
)
def test_the_build_context_leaves_out_virtualenvs_git_state_and_caches(path: str) -> None:
    assert _ignored(path, _dockerignore())


def test_the_build_context_keeps_everything_the_dockerfile_copies() -> None:
    patterns = _dockerignore()
    for args in (shlex.split(rest) for rest in _all("COPY")):
        for source in args[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not _ignored(source, patterns), f"COPY {source}: left out by .dockerignore"
