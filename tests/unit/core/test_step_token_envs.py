"""A step may name as its ``token_env`` only variables the platform allows: otherwise a
provider could have the daemon send any of its environment to a server of its choosing."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.assembly.steptokens import MirrorWriters, step_token_envs
from reconciler.errors import ConfigError
from reconciler.settings import Settings


def test_a_step_token_env_outside_the_allow_list_is_refused_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INNOMINATUS_SECRET_KEY_COPY", "do-not-send")
    writers = MirrorWriters(data_dir=tmp_path, token_envs={"GITOPS_TOKEN"})
    with pytest.raises(ConfigError, match="step_token_envs"):
        writers(url=str(tmp_path / "x.git"), branch="main", token_env="INNOMINATUS_SECRET_KEY_COPY")


def test_token_envs_set_by_the_platform_in_step_defaults_are_allowed() -> None:
    settings = Settings.model_validate(
        {
            "step_token_envs": ["EXTRA_TOKEN"],
            "step_defaults": {"kubernetes": {"token_env": "GITOPS_TOKEN"}},
        }
    )
    assert step_token_envs(settings) == {"EXTRA_TOKEN", "GITOPS_TOKEN"}
