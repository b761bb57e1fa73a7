"""``engine.replicas``: PostgreSQL only, refused at its line otherwise; a short lease unless set."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.settings import load_settings

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/innominatus"


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "innominatus.yaml"
    path.write_text(body)
    return path


def test_replicas_on_sqlite_are_refused_at_the_line_with_what_to_do(tmp_path: Path) -> None:
    config = _config(tmp_path, "database: sqlite:///state.db\nengine:\n  replicas: true\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, environ={})
    message = str(refused.value)
    assert f"{config}:" in message
    assert "engine.replicas" in message
    assert "postgresql+psycopg://" in message


def test_replicas_take_a_12s_lease_unless_one_is_set(tmp_path: Path) -> None:
    short = load_settings(
        _config(tmp_path, f"database: {POSTGRES}\nengine: {{replicas: true}}\n"), environ={}
    )
    assert short.engine.lease_ttl == 12.0
    chosen = load_settings(
        _config(tmp_path, f"database: {POSTGRES}\nengine: {{replicas: true, lease_ttl: 9s}}\n"),
        environ={},
    )
    assert chosen.engine.lease_ttl == 9.0
    single = load_settings(_config(tmp_path, f"database: {POSTGRES}\n"), environ={})
    assert (single.engine.replicas, single.engine.lease_ttl) == (False, 60.0)
