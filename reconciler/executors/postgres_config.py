"""The ``postgres`` step's config: checked when the provider set loads (templates may still be
unrendered then) and again, rendered, when the step runs; defaults filled in.

Owns :class:`PostgresSettings` and :func:`read_settings` (names, connection limit, extension
lists in their three written forms, host and port, the OIDs recorded at create), the default
database name of a resource and the prefix every name an app's resources give must start with
(:func:`app_prefix`). Nothing here talks to a server. Called by
:mod:`reconciler.executors.postgres`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.executors import checks

STEP = "postgres"
OPERATIONS = ("create", "update", "delete")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_EXTENSION = re.compile(r"[a-z0-9_-]+")
_OPTIONAL_TEXT = frozenset(
    {"database", "role", "host", "port", "name_prefix", "database_oid", "role_oid"}
)
_HOST = re.compile(r"[A-Za-z0-9._:-]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_MAX_OID = 2**32 - 1


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    dsn_env: str
    operation: str
    database: str
    role: str
    connection_limit: int
    extensions: tuple[str, ...]
    previous_extensions: tuple[str, ...]
    host: str | None
    port: str | None
    database_oid: int | None = None
    """The OID innominatus recorded for ``database`` when it created it (from the resource's
    outputs), or None; the state dir's record is the other source."""
    role_oid: int | None = None


def _name(config: Mapping[str, Any], key: str, *, rendered: bool, required: bool) -> str | None:
    value = checks.text(config, key, step=STEP, required=required)
    if value is None or (checks.is_template(value) and not rendered):
        return value
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"`config.{key}` of {checks.a(STEP)} must be a lowercase PostgreSQL name: a letter "
            f"or _, then letters, digits or _ (at most 63 in all, e.g. shop_db); got {value!r}"
        )
    return value


def _connection_limit(config: Mapping[str, Any], *, rendered: bool) -> int:
    value = config.get("connection_limit", -1)
    if checks.is_template(value) and not rendered:
        return -1
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ValueError(
            f"`config.connection_limit` of {checks.a(STEP)} must be a whole number of "
            f"connections, or -1 for no limit; got {value!r}"
        )
    return value


def _extensions(config: Mapping[str, Any], key: str, *, rendered: bool) -> tuple[str, ...]:
    """``config[key]`` as extension names: a list, a JSON list or a comma-separated string."""
    value = config.get(key)
    shape = (
        f"`config.{key}` of {checks.a(STEP)} must be a list of extension names, written as a "
        'list, a JSON list (["pgcrypto", "citext"]) or comma-separated (pgcrypto,citext)'
    )
    if value is None:
        return ()
    if isinstance(value, str):
        if checks.is_template(value) and not rendered:
            return ()
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError(f"{shape}; got {value!r}") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{shape}; got {value!r}")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{shape}; got {value!r}")
        if checks.is_template(item) and not rendered:
            continue
        if not _EXTENSION.fullmatch(item):
            raise ValueError(
                f"`config.{key}` of {checks.a(STEP)} names extensions with lowercase letters, "
                f"digits, _ and - only (e.g. pgcrypto, uuid-ossp); got {item!r}"
            )
        if item not in names:
            names.append(item)
    return tuple(names)


def _host(config: Mapping[str, Any], *, rendered: bool) -> str | None:
    value = checks.text(config, "host", step=STEP)
    if value is None or (checks.is_template(value) and not rendered):
        return None
    if not _HOST.fullmatch(value):
        raise ValueError(
            f"`config.host` of {checks.a(STEP)} must be a host name or IP address "
            f"(e.g. db.internal or 10.0.0.5); got {value!r}"
        )
    return value


def _port(config: Mapping[str, Any], *, rendered: bool) -> str | None:
    value = config.get("port")
    if value is None or (checks.is_template(value) and not rendered):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(
            f"`config.port` of {checks.a(STEP)} must be a port number from 1 to 65535; "
            f"got {value!r}"
        )
    return str(value)


def _oid(config: Mapping[str, Any], key: str, *, rendered: bool) -> int | None:
    value = config.get(key)
    if value is None or (checks.is_template(value) and not rendered):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_OID:
        raise ValueError(
            f"`config.{key}` of {checks.a(STEP)} is the OID innominatus recorded when it "
            f"created the object (a whole number, e.g. from "
            f"{{{{ .previous.outputs.{key} }}}}); got {value!r}"
        )
    return value


def _normal(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", text.lower())).strip("_")


def app_prefix(app: str) -> str:
    """The start of every database and role name an app's resources may give: the app's name
    made a valid lowercase name, then ``_`` (``shop-api`` -> ``shop_api_``), so one app cannot
    take a name another app needs. A digit first gets ``db_`` before it; past 40 characters
    the name is shortened with a hash, leaving room for the resource's part."""
    base = _normal(app)
    if not base or base[0].isdigit():
        base = f"db_{base}".rstrip("_")
    if len(base) > 40:
        base = f"{base[:31].rstrip('_')}_{hashlib.sha256(app.encode()).hexdigest()[:8]}"
    return f"{base}_"


def default_database(app: str, resource: str) -> str:
    """The database name used when the config gives none: :func:`app_prefix` then the
    resource's name, made a valid lowercase name (``shop-api``/``db`` -> ``shop_api_db``),
    shortened with a hash if too long (the prefix always kept)."""
    base = app_prefix(app) + (_normal(resource) or "db")
    if len(base) > 63:
        digest = hashlib.sha256(f"{app}\0{resource}".encode()).hexdigest()[:8]
        base = f"{base[:54].rstrip('_')}_{digest}"
    return base


def _check_prefix(
    key: str, value: str | None, *, prefix: str, platform: bool, default: str | None
) -> None:
    """Refuse a name given in the config that does not start with ``prefix``."""
    if value is None or value.startswith(prefix):
        return
    if platform:
        rule = f"start with {prefix}, the prefix the platform set (`config.name_prefix`)"
    else:
        rule = (
            f"start with {prefix} (the app's name and _), so that no app can take a name "
            f"another app needs"
        )
    instead = f"or leave it out for the default {default}" if default else "or leave it out"
    raise ValueError(
        f"`config.{key}` of {checks.a(STEP)} is {value}, outside the names this resource may "
        f"create: database and role names must {rule}; rename it to {prefix}<something> "
        f"{instead}. A platform team that sets names itself sets `name_prefix` (in the "
        f"built-in postgres provider: the installation parameter name_prefix)"
    )


def read_settings(
    config: Mapping[str, Any],
    *,
    operation: str | None,
    rendered: bool,
    default_name: str | None = None,
    prefix: str | None = None,
) -> PostgresSettings | None:
    """The step's config checked; ``rendered`` (at run time) checks templates' results too.

    Returns None for an unrendered config, whose values may still be templates. An empty
    ``database``, ``role``, ``host``, ``port``, ``name_prefix`` or OID (a template whose
    parameter or output was not set) counts as absent; an absent ``database`` is
    ``default_name``. At create, a ``database`` or ``role`` given must start with
    ``config.name_prefix`` (set by the platform) or else with ``prefix`` (the app's, see
    :func:`app_prefix`); update and delete work on the names recorded at create.
    """
    config = {
        key: value
        for key, value in config.items()
        if not (key in _OPTIONAL_TEXT and isinstance(value, str) and not value.strip())
    }
    dsn_env = checks.text(config, "admin_dsn_env", step=STEP, required=True) or ""
    if (rendered or not checks.is_template(dsn_env)) and not _ENV_NAME.fullmatch(dsn_env):
        raise ValueError(
            f"`config.admin_dsn_env` of {checks.a(STEP)} is the NAME of an environment "
            f"variable holding the admin connection string (e.g. PLATFORM_PG_ADMIN_DSN), "
            f"not the connection string itself"
        )
    chosen = checks.choice(config, "operation", OPERATIONS, step=STEP)
    if rendered and chosen is not None and chosen not in OPERATIONS:
        raise ValueError(
            f"`config.operation` of {checks.a(STEP)} must be one of create, "
            f"update, delete; got {chosen!r}"
        )
    database = _name(config, "database", rendered=rendered, required=default_name is None)
    role = _name(config, "role", rendered=rendered, required=False)
    platform_prefix = _name(config, "name_prefix", rendered=rendered, required=False)
    database_oid = _oid(config, "database_oid", rendered=rendered)
    role_oid = _oid(config, "role_oid", rendered=rendered)
    limit = _connection_limit(config, rendered=rendered)
    extensions = _extensions(config, "extensions", rendered=rendered)
    previous = _extensions(config, "previous_extensions", rendered=rendered)
    host, port = _host(config, rendered=rendered), _port(config, rendered=rendered)
    if not rendered:
        return None
    op = chosen or operation or ""
    if op not in OPERATIONS:
        raise ValueError(
            f"{checks.a(STEP)} cannot run the {op!r} operation; set `config.operation` to "
            f"create, update or delete"
        )
    if op == "create" and (platform_prefix or prefix):
        defaults = {"database": default_name, "role": "the database's name"}
        for key, value in (("database", database), ("role", role)):
            _check_prefix(
                key,
                value,
                prefix=platform_prefix or prefix or "",
                platform=platform_prefix is not None,
                default=defaults[key],
            )
    database = database or default_name
    assert database is not None  # required above when there is no default
    return PostgresSettings(
        dsn_env=dsn_env,
        operation=op,
        database=database,
        role=role or database,
        connection_limit=limit,
        extensions=extensions,
        previous_extensions=previous,
        host=host,
        port=port,
        database_oid=database_oid,
        role_oid=role_oid,
    )
