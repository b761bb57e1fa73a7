"""What every command module of the CLI shares: settings loading, clean error exits, the
``--config``/``--output`` options and table/JSON/YAML output."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.table import Table

from reconciler.errors import InnominatusError
from reconciler.settings import Settings, load_settings
from reconciler.store import Store, load_or_create_key, open_store
from reconciler.yamlfile import dump

P = ParamSpec("P")
R = TypeVar("R")

OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
    help="Output format.",
)


def fail_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InnominatusError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)

    return wrapper


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings(obj.get("config"))
    settings: Settings = obj["settings"]
    return settings


def store_of(ctx: click.Context) -> Store:
    """The configured store, migrated, with the secret key if one exists (never creates one)."""
    settings = settings_of(ctx)
    key = load_or_create_key(
        Path(settings.data_dir),
        env_value=settings.secret_key.get_secret_value() if settings.secret_key else None,
        create=False,
    )
    store = open_store(settings.database, secret_key=key)
    try:
        store.upgrade()
    except BaseException:
        store.close()
        raise
    return store


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "apscheduler", "watchfiles"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def emit(data: Any, output: str, table: Callable[[], Table]) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    elif output == "yaml":
        click.echo(dump(data), nl=False)
    else:
        Console(width=160).print(table())


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
        help="Config file (YAML).",
        is_eager=True,
    )(func)
