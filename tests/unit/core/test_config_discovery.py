"""Configuration discovery: the one rule the daemon and every command share (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.settings import ConfigLocation, find_config, load_settings


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    """A working directory and a stand-in for /etc/innominatus/config.yaml."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    return cwd, tmp_path / "etc" / "config.yaml"


def _write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("engine: {workers: 2}\n")
    return path


def test_an_explicit_config_wins_over_everything(places: tuple[Path, Path]) -> None:
    cwd, system = places
    _write(cwd / "innominatus.yaml")
    _write(system)
    found = find_config(
        Path("mine.yaml"), environ={"INNOMINATUS_CONFIG": "env.yaml"}, cwd=cwd, system=system
    )
    assert found == ConfigLocation(Path("mine.yaml"), "--config")


def test_the_environment_variable_comes_before_the_default_places(
    places: tuple[Path, Path],
) -> None:
    cwd, system = places
    _write(cwd / "innominatus.yaml")
    found = find_config(environ={"INNOMINATUS_CONFIG": "env.yaml"}, cwd=cwd, system=system)
    assert found == ConfigLocation(Path("env.yaml"), "INNOMINATUS_CONFIG")


def test_an_empty_environment_variable_counts_as_unset(places: tuple[Path, Path]) -> None:
    cwd, system = places
    assert find_config(environ={"INNOMINATUS_CONFIG": ""}, cwd=cwd, system=system).path is None


def test_innominatus_yaml_in_the_current_directory_comes_before_etc(
    places: tuple[Path, Path],
) -> None:
    cwd, system = places
    local = _write(cwd / "innominatus.yaml")
    _write(system)
    assert find_config(environ={}, cwd=cwd, system=system) == ConfigLocation(
        local, "./innominatus.yaml"
    )


def test_etc_is_used_when_nothing_closer_exists(places: tuple[Path, Path]) -> None:
    cwd, system = places
    _write(system)
    assert find_config(environ={}, cwd=cwd, system=system).path == system


def test_nothing_found_means_the_defaults_and_says_where_it_looked(
    places: tuple[Path, Path],
) -> None:
    cwd, system = places
    found = find_config(environ={}, cwd=cwd, system=system)
    assert found.path is None
    described = found.describe()
    assert "INNOMINATUS_CONFIG is unset" in described
    assert "./innominatus.yaml" in described
    assert "/etc/innominatus/config.yaml" in described


def test_a_folder_named_innominatus_yaml_is_not_a_config(places: tuple[Path, Path]) -> None:
    cwd, system = places
    (cwd / "innominatus.yaml").mkdir()
    assert find_config(environ={}, cwd=cwd, system=system).path is None


def test_load_settings_reads_the_file_found_in_the_current_directory(
    places: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, _system = places
    (cwd / "innominatus.yaml").write_text("engine: {workers: 3}\ndata_dir: state\n")
    monkeypatch.chdir(cwd)
    settings = load_settings(environ={})
    assert settings.engine.workers == 3
    assert settings.data_dir == (cwd / "state").resolve()


def test_descriptions_name_the_file_and_how_it_was_chosen() -> None:
    assert ConfigLocation(Path("c.yaml"), "--config").describe() == "c.yaml (from --config)"
    assert (
        ConfigLocation(Path("c.yaml"), "INNOMINATUS_CONFIG").describe()
        == "c.yaml (from INNOMINATUS_CONFIG)"
    )
    assert (
        ConfigLocation(Path("innominatus.yaml"), "./innominatus.yaml").describe()
        == "innominatus.yaml (found in the current directory)"
    )
