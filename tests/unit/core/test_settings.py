"""Settings: defaults that run with no file, environment over file, errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.settings import load_settings, parse_duration


def test_defaults_work_with_no_file_at_all() -> None:
    settings = load_settings(None, environ={})
    assert settings.database == "sqlite:///.innominatus/state.db"
    assert settings.engine.workers == 4
    assert settings.engine.max_deletes == 10
    assert settings.api.port == 8081


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text("api: {port: 9000}\nengine: {workers: 2}\n")
    settings = load_settings(config, environ={"INNOMINATUS_API__PORT": "9100"})
    assert settings.api.port == 9100
    assert settings.engine.workers == 2


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "cfg.yaml"
    config.parent.mkdir()
    config.write_text(
        "database: sqlite:///state.db\ndata_dir: data\n"
        "repositories: [{name: apps, url: ../apps}]\n"
        "providers: [{name: p, type: filesystem, path: ./p}]\n"
    )
    settings = load_settings(config, environ={})
    assert settings.database == f"sqlite:///{tmp_path / 'conf' / 'state.db'}"
    assert settings.data_dir == tmp_path / "conf" / "data"
    assert settings.repositories[0].url == str(tmp_path / "apps")
    assert settings.providers[0].path == tmp_path / "conf" / "p"


def test_relative_paths_without_a_dot_and_path_parameters_are_relative_to_the_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "conf" / "cfg.yaml"
    config.parent.mkdir()
    config.write_text(
        "repositories:\n"
        "  - {name: a, url: apps}\n"
        "  - {name: b, url: 'git@example.com:team/b.git'}\n"
        "  - {name: c, url: 'https://example.com/c.git'}\n"
        "providers:\n"
        "  - name: dns\n    type: filesystem\n    path: providers/dns\n"
        "    parameters: {hosts_file: dns/hosts, domain: example.com}\n"
    )
    settings = load_settings(config, environ={})
    assert [r.url for r in settings.repositories] == [
        str(tmp_path / "conf" / "apps"),
        "git@example.com:team/b.git",
        "https://example.com/c.git",
    ]
    assert settings.providers[0].path == tmp_path / "conf" / "providers" / "dns"
    assert settings.providers[0].parameters == {
        "hosts_file": str(tmp_path / "conf" / "dns" / "hosts"),
        "domain": "example.com",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("engine:\n  workers: 0\n", "cfg.yaml:2:3: engine.workers: Input should be greater"),
        ("engine:\n  step_timeout: soon\n", "'soon' is not a duration; write e.g. 10s"),
        ("bogus: 1\n", "cfg.yaml:1:1: bogus: unknown key"),
        (
            "repositories:\n  - {name: a, url: 'https://u:p@h/x.git'}\n",
            "the URL holds a password; remove it and set token_env instead",
        ),
        (
            "repositories:\n  - {name: a, url: x}\n  - {name: a, url: y}\n",
            "two repositories are named 'a'; rename one",
        ),
        ("- 1\n", "the config must be a mapping"),
        ("a: [\n", "invalid YAML"),
    ],
)
def test_invalid_values_name_the_place_and_what_to_do(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})
    assert message in str(error.value)
    assert "https://u:p@" not in str(error.value)


def test_a_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found; pass an existing file"):
        load_settings(tmp_path / "nope.yaml", environ={})


@pytest.mark.parametrize(
    ("value", "seconds"), [("10s", 10), ("5m", 300), ("1h", 3600), ("250ms", 0.25), (3, 3)]
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


def test_api_tokens_env_set_but_missing_or_empty_refuses_instead_of_serving_everyone() -> None:
    api = load_settings(environ={"INNOMINATUS_API__TOKENS_ENV": "API_TOKENS"}).api
    for environ in ({}, {"API_TOKENS": ""}, {"API_TOKENS": " , "}):
        with pytest.raises(ConfigError, match="environment variable API_TOKENS is not set"):
            api.bearer_tokens(environ)
    assert api.bearer_tokens({"API_TOKENS": "a, b,"}) == ("a", "b")
    assert load_settings(environ={}).api.bearer_tokens({}) == ()  # no tokens_env: no auth


def test_allowed_hosts_default_to_localhost_and_the_bind_name(tmp_path: Path) -> None:
    assert load_settings(environ={}).api.host_names() == ("localhost",)
    named = load_settings(environ={"INNOMINATUS_API__HOST": "status.internal"})
    assert named.api.host_names() == ("localhost", "status.internal")
    config = tmp_path / "c.yaml"
    config.write_text("api: {host: 0.0.0.0, allowed_hosts: [Status.Example.com, '*.ops']}\n")
    assert load_settings(config, environ={}).api.host_names() == ("status.example.com", "*.ops")
    config.write_text("api: {allowed_hosts: ['http://x/']}\n")
    with pytest.raises(ConfigError, match="is not a host name"):
        load_settings(config, environ={})


def test_a_git_providers_path_stays_a_folder_inside_its_repository(tmp_path: Path) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "providers:\n  - {name: db, type: git, repository: ./db.git, ref: v1, path: providers/db}\n"
    )
    (source,) = load_settings(config, environ={}).providers
    assert source.path == Path("providers/db")
    assert source.repository == str(tmp_path / "db.git")


def test_webhook_settings_default_off_and_read_sizes_durations_and_limits(tmp_path: Path) -> None:
    hooks = load_settings(environ={}).webhooks
    assert (hooks.enabled, hooks.host, hooks.port, hooks.max_body) == (
        False,
        "127.0.0.1",
        8082,
        1024 * 1024,
    )
    assert hooks.rate_limit.per_minute == 120
    config = tmp_path / "c.yaml"
    config.write_text(
        "webhooks:\n  enabled: true\n  secret_env: HOOKS\n  max_body: 64KiB\n"
        "  read_timeout: 500ms\n  rate_limit: {per_minute: 30}\n"
    )
    hooks = load_settings(config, environ={}).webhooks
    assert (hooks.max_body, hooks.read_timeout, hooks.rate_limit.per_minute) == (65536, 0.5, 30)
    config.write_text("webhooks:\n  enabled: true\n  secret_env: HOOKS\n  max_body: lots\n")
    with pytest.raises(
        ConfigError, match=r"c\.yaml:4:\d+: webhooks\.max_body: 'lots' is not a size"
    ):
        load_settings(config, environ={})


def test_webhook_secrets_must_be_set_when_the_receiver_is_on(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("webhooks: {enabled: true}\n")
    with pytest.raises(
        ConfigError, match=r"c\.yaml:1:\d+: webhooks\.enabled: the receiver needs a secret"
    ):
        load_settings(config, environ={})
    config.write_text(
        "webhooks: {enabled: true, secret_env: SHARED}\n"
        "repositories:\n  - {name: a, url: /srv/a, webhook_secret_env: OWN_A}\n"
        "  - {name: b, url: /srv/b}\n"
    )
    settings = load_settings(config, environ={})
    for environ in ({}, {"SHARED": "x"}, {"SHARED": "", "OWN_A": "y"}):
        with pytest.raises(ConfigError, match=r"environment variable (SHARED|OWN_A) is not set"):
            settings.webhooks.secrets(environ, settings.repositories)
    assert settings.webhooks.secrets({"SHARED": "x", "OWN_A": "y"}, settings.repositories) == (
        "x",
        {"a": "y"},
    )
