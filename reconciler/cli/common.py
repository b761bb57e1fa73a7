"""What every command module of the CLI shares: finding and loading the configuration, opening
the store (read-only unless the command writes), clean error exits, the ``--config`` and
``--output`` options, and table/wide/JSON/YAML output.

Imports of the daemon's packages happen inside the functions: this module is imported by every
command, including ``innominatus --version``, which must start in a tenth of a second.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from reconciler import logcontext
from reconciler.cli.group import error_line
from reconciler.errors import InnominatusError, PermanentError

if TYPE_CHECKING:
    from reconciler.cli.tables import Table
    from reconciler.settings import ConfigLocation, Settings
    from reconciler.store import Store

P = ParamSpec("P")
R = TypeVar("R")

OUTPUT_FORMATS = ("table", "wide", "json", "yaml")
OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="Output format: a table (plain text when piped), wide (more columns), JSON or YAML.",
)


def fail_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    """Expected failures end as one ``error: ...`` line and exit 1, never a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InnominatusError as exc:
            click.echo(error_line(exc.message), err=True)
            sys.exit(1)
        except OSError as exc:  # the environment, not a bug: a path this user cannot use
            if exc.filename is None:
                raise
            click.echo(
                error_line(
                    f"{exc.filename}: {exc.strerror or exc}",
                    "check that this user may use it, or change the path in the configuration",
                ),
                err=True,
            )
            sys.exit(1)

    return wrapper


def location_of(ctx: click.Context) -> ConfigLocation:
    """The configuration file this command uses, found as the daemon finds it."""
    from reconciler.settings import find_config

    obj = ctx.ensure_object(dict)
    if "location" not in obj:
        obj["location"] = find_config(obj.get("config"))
    location: ConfigLocation = obj["location"]
    return location


def settings_of(ctx: click.Context) -> Settings:
    from reconciler.settings import load_settings

    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings(location_of(ctx).path)
    settings: Settings = obj["settings"]
    return settings


def _database_origin(ctx: click.Context) -> str:
    if os.environ.get("INNOMINATUS_DATABASE"):
        return "from INNOMINATUS_DATABASE"
    location = location_of(ctx)
    if location.path is None:
        return "the default; " + location.describe().replace(": the built-in defaults", "")
    return f"the database of {location.describe()}"


def store_of(ctx: click.Context, *, writable: bool = False) -> Store:
    """The configured store, which must exist and be at this version's schema. Read-only
    (never created, migrated or written; a read-only folder is fine) unless ``writable``.
    A missing database is an error that says which configuration and database were used and
    how to point at the daemon's, never an empty database created on the spot."""
    from reconciler.store import load_or_create_key, open_store
    from reconciler.store.database import sqlite_file

    settings = settings_of(ctx)
    database = sqlite_file(settings.database)
    if database is not None and not database.is_file():
        if location_of(ctx).path is None and not os.environ.get("INNOMINATUS_DATABASE"):
            hint = (
                "run it where the daemon's innominatus.yaml is, or pass that configuration "
                "with -c FILE or INNOMINATUS_CONFIG, or the database with INNOMINATUS_DATABASE"
            )
        else:
            hint = (
                "start the daemon (`innominatus run`) to create it, or pass the daemon's "
                "configuration with -c FILE"
            )
        raise PermanentError(f"no database at {database} ({_database_origin(ctx)}); {hint}")
    key = load_or_create_key(
        Path(settings.data_dir),
        env_value=settings.secret_key.get_secret_value() if settings.secret_key else None,
        create=False,
    )
    store = open_store(settings.database, secret_key=key, read_only=not writable)
    try:
        store.check_schema()
    except BaseException:
        store.close()
        raise
    return store


def describe_use(ctx: click.Context) -> str:
    """What a command that may create state says first: which configuration, database and
    data dir it uses."""
    from reconciler.store.database import redact_database_url, sqlite_file

    settings = settings_of(ctx)
    database = sqlite_file(settings.database)
    shown = str(database.resolve()) if database else redact_database_url(settings.database)
    return (
        f"configuration: {location_of(ctx).describe()}; database: {shown}; "
        f"data dir: {Path(settings.data_dir).resolve()}"
    )


class JsonLines(logging.Formatter):
    """``log_format: json``: one JSON object per record, with what the line is about
    (:mod:`reconciler.logcontext`: app, resource, execution) as fields of their own."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **logcontext.fields(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    for noisy in ("alembic", "apscheduler", "watchfiles"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def emit(data: Any, output: str, table: Callable[[], Table]) -> None:
    """``data`` as JSON or YAML (the API's documents), or the table built from it."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    elif output == "yaml":
        from reconciler.yamlfile import dump

        click.echo(dump(data), nl=False)
    else:
        table().print(wide=output == "wide")


def config_option(func: Callable[P, R]) -> Callable[P, R]:
    """Accept --config after the subcommand too (``innominatus run --config cfg.yaml``)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
        if value is not None:
            ctx.ensure_object(dict)["config"] = value

    return click.option(
        "--config",
        "-c",
        type=click.Path(path_type=Path),
        expose_value=False,
        callback=remember,
        help="Config file (YAML). Default: $INNOMINATUS_CONFIG, ./innominatus.yaml, "
        "/etc/innominatus/config.yaml, else the built-in defaults.",
        is_eager=True,
    )(func)


def complete_apps(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of app names, from the database (nothing when it cannot be read:
    completion never prints an error into the command line)."""
    try:
        store = store_of(ctx)
    except Exception:
        return []
    try:
        return [app.name for app in store.apps.all() if app.name.startswith(incomplete)]
    except Exception:
        return []
    finally:
        store.close()
