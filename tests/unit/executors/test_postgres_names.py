"""The names the postgres step gives and accepts: the default database name of a resource
always starts with its app's prefix, so the prefix rule never refuses a default, and the
defaults of existing resources did not change when the rule came."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.executors.postgres_config import app_prefix, default_database, read_settings

VALID = re.compile(r"[a-z_][a-z0-9_]{0,62}")
NAMES = st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=90)


@pytest.mark.parametrize(
    ("app", "resource", "expected"),
    [
        ("shop", "db", "shop_db"),
        ("shop-api", "db", "shop_api_db"),
        ("Shop-API", "orders-db", "shop_api_orders_db"),
        ("1shop", "db", "db_1shop_db"),
        ("shop-", "_db", "shop_db"),
    ],
)
def test_default_names_are_those_resources_always_had(
    app: str, resource: str, expected: str
) -> None:
    assert default_database(app, resource) == expected


@given(app=NAMES, resource=NAMES)
def test_the_default_name_is_valid_and_inside_the_apps_prefix(app: str, resource: str) -> None:
    name = default_database(app, resource)
    assert VALID.fullmatch(name), name
    assert name.startswith(app_prefix(app))
    assert len(app_prefix(app)) <= 41


def test_create_refuses_a_given_name_outside_the_prefix_but_update_and_delete_do_not() -> None:
    config = {"admin_dsn_env": "PG", "database": "billing_db"}
    for operation in ("update", "delete"):
        read_settings(config, operation=operation, rendered=True, prefix="shop_")
    with pytest.raises(ValueError, match=r"must start with shop_ \(the app's name and _\)"):
        read_settings(config, operation="create", rendered=True, prefix="shop_")


@pytest.mark.parametrize("oid", ["0", "-1", "4294967296", "abc", True, 1.5])
def test_an_oid_that_postgresql_cannot_have_is_refused(oid: object) -> None:
    config = {"admin_dsn_env": "PG", "database": "shop_db", "database_oid": oid}
    with pytest.raises(ValueError, match=re.escape("`config.database_oid`")):
        read_settings(config, operation="update", rendered=True)


def test_an_empty_oid_from_an_unset_output_counts_as_absent() -> None:
    config = {"admin_dsn_env": "PG", "database": "shop_db", "database_oid": "", "role_oid": "42"}
    settings = read_settings(config, operation="update", rendered=True)
    assert settings is not None
    assert (settings.database_oid, settings.role_oid) == (None, 42)
