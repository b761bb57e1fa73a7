"""``platform.yaml``, the platform repository's file: the configuration's ``providers:`` and
``step_defaults:`` schema, every problem as ``file:line: key: what is wrong, what to do``, and
what a repository may not say about the daemon's host refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import ConfigError
from reconciler.settings import PlatformSettings, load_settings
from reconciler.settings.platform import catalog_sources, read_platform_file

GOOD = b"""\
providers:
  - name: environment
    path: providers/environment
    parameters: {values: {REGION: eu-west-1}}
  - {name: db, type: git, repository: https://git.example.com/db.git, ref: v1.2.0}
step_defaults:
  kubernetes: {url: https://git.example.com/gitops.git, path: clusters/prod}
"""

BAD = [
    # (file, the error's start, a word of its advice)
    (b"providers: {name: x}\n", "platform.yaml:1:", "tuple"),
    (b"provider: []\n", "platform.yaml:1:1: provider: unknown key", "spelling"),
    (b"- a\n- b\n", "platform.yaml:1: the file must be a mapping", "providers:"),
    (b"providers:\n  - {name: x}\n", "platform.yaml:2:", "needs `path`"),
    (
        b"providers:\n  - {name: x, type: git, repository: https://h/x.git}\n",
        "platform.yaml:2:",
        "exactly one of `ref` or `version`",
    ),
    (b"providers:\n  - {name: x, type: ftp, path: p}\n", "platform.yaml:2:", "filesystem"),
    (
        b"providers:\n  - {name: x, path: /srv/x}\n",
        "platform.yaml:2:",
        "relative to this file's folder",
    ),
    (b"providers:\n  - {name: x, path: ../x}\n", "platform.yaml:2:", "without '..'"),
    (
        b"providers:\n  - {name: x, path: x}\n  - {name: x, path: y}\n",
        "platform.yaml:3:",
        "rename one",
    ),
    (
        b"providers:\n  - name: x\n    path: x\n    sandbox: {network: none}\n",
        "platform.yaml:4:",
        "daemon's configuration",
    ),
    (
        b"providers:\n  - {name: x, type: git, repository: https://h/x.git, ref: v1,"
        b" token_env: HOME}\n",
        "platform.yaml:2:",
        "platform.token_envs",
    ),
    (
        b"providers:\n  - {name: x, type: git, repository: team/x, ref: v1}\n",
        "platform.yaml:2:",
        "absolute path",
    ),
    (
        b"step_defaults:\n  kubernetes:\n    token_env: AWS_SECRET_ACCESS_KEY\n",
        "platform.yaml:3:",
        "step_token_envs",
    ),
    (b"step_defaults: {kubernetes: 3}\n", "platform.yaml:1:", "dictionary"),
    (b"providers: [\n", "platform.yaml:2:1: invalid YAML", "fix the syntax"),
    (b"a: 1\n---\nb: 2\n", "platform.yaml:1: holds 2 YAML documents", "keep one"),
]


@pytest.mark.parametrize(("content", "start", "advice"), BAD)
def test_a_bad_platform_file_is_refused_with_its_file_and_line(
    content: bytes, start: str, advice: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        read_platform_file(content, path="platform.yaml")

    assert caught.value.message.startswith(start), caught.value.message
    assert advice in caught.value.message


def test_a_missing_platform_file_says_what_to_commit() -> None:
    with pytest.raises(ConfigError, match=r"^infra/platform.yaml: no such file .* platform.path"):
        read_platform_file(None, path="infra/platform.yaml")


def test_a_good_platform_file_has_the_configuration_schema() -> None:
    file = read_platform_file(GOOD, path="platform.yaml")

    assert [p.name for p in file.providers] == ["environment", "db"]
    assert file.providers[0].parameters == {"values": {"REGION": "eu-west-1"}}
    assert file.step_defaults["kubernetes"]["path"] == "clusters/prod"


def test_allowed_token_variables_are_accepted() -> None:
    content = (
        b"providers:\n  - {name: x, type: git, repository: https://h/x.git, ref: v1,"
        b" token_env: X_TOKEN}\nstep_defaults: {kubernetes: {token_env: GITOPS_TOKEN}}\n"
    )

    file = read_platform_file(
        content, path="platform.yaml", token_envs=["X_TOKEN"], step_token_envs=["GITOPS_TOKEN"]
    )

    assert file.providers[0].token_env == "X_TOKEN"


def test_a_filesystem_provider_is_a_folder_of_the_commit_read() -> None:
    file = read_platform_file(
        b"providers:\n  - {name: env, path: providers/env}\n  - {name: all, path: .}\n",
        path="infra/platform.yaml",
    )
    platform = PlatformSettings(repository="https://git.example.com/platform.git", token_env="T")

    env, whole = catalog_sources(
        file, platform=platform, repository=platform.repository, commit="a" * 40
    )

    assert (env.type, env.repository, env.ref, env.path) == (
        "git",
        "https://git.example.com/platform.git",
        "a" * 40,
        Path("infra/providers/env"),
    )
    assert env.token_env == "T"
    assert whole.path == Path("infra")


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=8,
    )
)
def test_any_document_either_loads_or_is_refused_with_a_location(data: object) -> None:
    import yaml

    content = yaml.safe_dump({"providers": data}).encode()
    try:
        read_platform_file(content, path="platform.yaml")
    except ConfigError as exc:
        message = exc.message
    else:
        return
    assert all(line.startswith("platform.yaml:") for line in message.splitlines()), message


def test_the_platform_repository_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "cfg.yaml"
    config.parent.mkdir()
    config.write_text("platform: {repository: ../platform, branch: live}\n")

    platform = load_settings(config).platform

    assert platform is not None
    assert (platform.repository, platform.branch, platform.path) == (
        str(tmp_path / "platform"),
        "live",
        "platform.yaml",
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("platform: {repository: x, path: ../platform.yaml}", "platform.path: name a file inside"),
        ("platform: {repository: 'https://u:pw@h/p.git'}", "platform.repository: the URL holds"),
        (
            "platform: {repository: x}\nstep_defaults: {shell: {}}",
            "step_defaults: platform: is set",
        ),
        (
            "platform: {repository: x}\nrepositories: [{name: platform, url: y}]",
            "repositories: 'platform' names the platform repository",
        ),
    ],
)
def test_a_bad_platform_setting_is_refused_with_its_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text(line + "\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(config)

    assert caught.value.message.startswith(f"{config}:"), caught.value.message
    assert problem in caught.value.message
