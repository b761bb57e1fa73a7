"""``innominatus providers list|show|validate|test|init|migrate|hash``: the provider catalogue and
tools for provider authors."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import (
    OUTPUT_OPTION,
    config_option,
    emit,
    fail_cleanly,
    settings_of,
    setup_logging,
)
from reconciler.cli.group import HELP_OPTIONS
from reconciler.cli.tables import Table
from reconciler.errors import InnominatusError, PermanentError

# The provider packages are imported inside the commands: `providers list` must not pay for
# the migration and scaffolding tools, nor `providers init` for the catalogue.
GOLDENPATHS = "goldenpaths.yaml"
"""The legacy catalogue's file name (``reconciler.providers.legacy.GOLDENPATHS``)."""


@click.group(context_settings=HELP_OPTIONS)
def providers() -> None:
    """Provider catalogue and provider-author tools."""


def _catalogue(ctx: click.Context) -> dict[str, Any]:
    from reconciler.assembly.platformplan import daemon_catalog

    catalog = daemon_catalog(settings_of(ctx))
    try:
        catalog.reload()
        return catalog.describe()
    finally:
        catalog.close()


@providers.command("list")
@config_option
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def list_(ctx: click.Context, output: str) -> None:
    """The configured providers as they load now (a refused set is shown with its reasons)."""
    data = _catalogue(ctx)

    def table() -> Table:
        grid = Table(
            ("PROVIDER", "VERSION", "SOURCE", "REF", "TYPES"),
            wide_columns=("COMMIT", "TREE SHA256", "WORKFLOWS"),
        )
        for p in data["providers"]:
            grid.add(
                p["name"],
                p["version"],
                p["source"],
                p["ref"],
                ", ".join(p["types"]),
                wide=(
                    (p["commit"] or "")[:12],
                    p["tree_sha256"],
                    ", ".join(p["workflows"]),
                ),
            )
        return grid

    emit(data, output, table)
    if data["refused"]:
        click.echo(f"error: {data['refused']}", err=True)
        raise SystemExit(1)


@providers.command()
@config_option
@click.argument("name")
@OUTPUT_OPTION
@click.pass_context
@fail_cleanly
def show(ctx: click.Context, name: str, output: str) -> None:
    """One provider: types, aliases, workflows."""
    data = _catalogue(ctx)
    found = [p for p in data["providers"] if p["name"] == name]
    if not found:
        known = ", ".join(p["name"] for p in data["providers"]) or "none"
        raise PermanentError(f"no provider named {name!r}; loaded providers: {known}")
    provider = found[0]

    def table() -> Table:
        grid = Table(("FIELD", "VALUE"))
        for key in ("name", "version", "source", "ref", "commit", "tree_sha256"):
            grid.add(key, str(provider[key] or ""))
        grid.add("types", ", ".join(provider["types"]))
        grid.add("aliases", ", ".join(f"{a} -> {t}" for a, t in provider["aliases"].items()))
        grid.add("workflows", ", ".join(provider["workflows"]))
        return grid

    emit(provider, output, table)


@providers.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(folders: tuple[Path, ...]) -> None:
    """Check provider folders offline: manifest, workflows, step types; file:line errors."""
    from reconciler.executors.registry import default_registry
    from reconciler.providers.provider import load_provider

    known = default_registry().known_types()
    failed = False
    for folder in folders:
        try:
            provider = load_provider(folder, known_step_types=known)
        except InnominatusError as exc:
            failed = True
            click.echo(exc.message, err=True)
            continue
        click.echo(
            f"{folder}: provider {provider.name} {provider.version} is valid "
            f"({len(provider.workflows)} workflows, types: {', '.join(sorted(provider.types))})"
        )
    raise SystemExit(1 if failed else 0)


@providers.command("hash")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@fail_cleanly
def hash_(folder: Path) -> None:
    """The canonical sha256 of a provider tree, for a source's `sha256:` pin: every file's
    path, mode (executable or not) and content; equal to the hash of the same files committed
    to Git (.git entries and symlinks are not part of a tree). Run it on a clean checkout."""
    from reconciler.providers.integrity import tree_hash

    click.echo(tree_hash(folder))


@providers.command("test")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--case", "only", help="Run only the cases whose name contains this text.")
@click.option("--keep", is_flag=True, help="Keep each case's temporary directory.")
@click.option("--verbose", "-v", is_flag=True, help="Show the reconciler's log while cases run.")
@click.option("--fail-on-skip", is_flag=True, help="Count skipped cases as failures (for CI jobs).")
@click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A daemon configuration whose step_defaults the cases use (e.g. a GitOps target).",
)
@click.option(
    "--parameter",
    "-p",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Installation parameter for every case (overrides the case's own).",
)
def test(
    *,
    folder: Path,
    only: str | None,
    keep: bool,
    verbose: bool,
    fail_on_skip: bool,
    config: Path | None,
    overrides: tuple[str, ...],
) -> None:
    """Validate a provider folder, then run the test cases its provider.yaml declares.

    Each case reconciles its Score file in a throwaway repository, database and data dir,
    checks the expected outputs, applies its update (if any), then deletes the app.
    Exit 0 when every case passes (skipped ones included), 1 otherwise.
    """
    from reconciler.assembly.testbed import run_provider_tests
    from reconciler.executors.registry import default_registry
    from reconciler.providers.provider import load_provider
    from reconciler.settings import load_settings

    # Failures are reported per case below; the daemon's log (including the expected
    # "deletes held" of the final delete stage) is shown only on request.
    setup_logging("info" if verbose else "error")
    try:
        provider = load_provider(folder, known_step_types=default_registry().known_types())
    except InnominatusError as exc:
        click.echo(exc.message, err=True)
        raise SystemExit(1) from exc
    if not provider.tests:
        click.echo(
            f"{folder}: provider {provider.name} declares no tests; add cases under `tests:` "
            "in provider.yaml (see `innominatus providers init`)",
            err=True,
        )
        raise SystemExit(1)
    extra: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--parameter")
        extra[key] = value
    cases = [
        case.model_copy(update={"parameters": {**case.parameters, **extra}})
        for case in provider.tests
    ]
    step_defaults = load_settings(config).step_defaults if config is not None else {}
    results = run_provider_tests(provider, cases, only=only, keep=keep, step_defaults=step_defaults)
    if not results:
        click.echo(f"no test case name contains {only!r}", err=True)
        raise SystemExit(1)
    for result in results:
        click.echo(f"{result.outcome.upper():8} {result.name} ({result.seconds:.1f}s)")
        for problem in result.problems:
            click.echo(f"         {problem}")
    failed = sum(
        result.outcome == "failed" or (fail_on_skip and result.outcome == "skipped")
        for result in results
    )
    counts = {o: sum(r.outcome == o for r in results) for o in ("passed", "failed", "skipped")}
    click.echo(", ".join(f"{n} {o}" for o, n in counts.items() if n))
    raise SystemExit(1 if failed else 0)


@providers.command()
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to create the provider (default: ./NAME).",
)
def init(name: str, directory: Path | None) -> None:
    """Create a new provider NAME whose tests pass as made: `providers test NAME` next."""
    from reconciler.providers.scaffold import scaffold

    try:
        files = scaffold(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from exc
    target = directory or Path(name)
    if target.exists() and any(target.iterdir()):
        click.echo(f"error: {target} exists and is not empty; choose another --directory", err=True)
        raise SystemExit(1)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    click.echo(f"created provider {name} in {target}; next: innominatus providers test {target}")


@providers.command("migrate")
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--output",
    "-o",
    "target",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="New folder for the migrated provider (must not exist or be empty).",
)
@click.option(
    "--goldenpaths",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help=f"The legacy catalogue (default: SOURCE/{GOLDENPATHS} if present).",
)
def migrate_(source: Path, target: Path, goldenpaths: Path | None) -> None:
    """Migrate a legacy provider (kind: Platform, goldenpaths.yaml) to the current format.

    SOURCE is left untouched; TARGET receives a copy with a kind: Provider manifest whose
    workflows include every golden path (category goldenpath), and golden path parameters
    declared, with their types and constraints, in the workflow files. The result is then
    validated; exit 0 when it loads, 1 otherwise (the notes say what is left to do).
    """
    from reconciler.executors.registry import default_registry
    from reconciler.providers.legacy import migrate, read_goldenpaths
    from reconciler.providers.provider import load_provider
    from reconciler.yamlfile import dump

    if target.exists() and any(target.iterdir()):
        click.echo(f"error: {target} exists and is not empty; choose a new --output", err=True)
        raise SystemExit(1)
    if target.resolve().is_relative_to(source.resolve()):
        click.echo(f"error: {target} is inside {source}; choose an --output outside it", err=True)
        raise SystemExit(1)
    try:
        legacy = _yaml_mapping(source / "provider.yaml")
        catalogue_path = goldenpaths or source / GOLDENPATHS
        catalogue = read_goldenpaths(catalogue_path) if catalogue_path.is_file() else None
    except InnominatusError as exc:
        click.echo(exc.message, err=True)
        raise SystemExit(1) from exc
    migration = migrate(legacy, catalogue)
    shutil.copytree(source, target, dirs_exist_ok=True)
    (target / GOLDENPATHS).unlink(missing_ok=True)
    header = f"# Migrated from {source} by `innominatus providers migrate`.\n"
    (target / "provider.yaml").write_text(header + dump(migration.manifest))
    for file, declarations in migration.parameters.items():
        _add_parameters(
            source=source,
            target=target,
            file=file,
            declarations=declarations,
            catalogue=catalogue_path,
            notes=migration.notes,
            renames=migration.renames.get(file, {}),
        )
    for note in migration.notes:
        click.echo(f"note: {note}")
    try:
        provider = load_provider(target, known_step_types=default_registry().known_types())
    except InnominatusError as exc:
        click.echo(f"{target}: the migrated provider does not load yet:", err=True)
        click.echo(exc.message, err=True)
        raise SystemExit(1) from exc
    click.echo(
        f"{target}: provider {provider.name} {provider.version} migrated and valid "
        f"({len(provider.workflows)} workflows)"
    )


def _yaml_mapping(path: Path) -> dict[str, Any]:
    from reconciler.providers.documents import parse_mapping, read_file

    document = parse_mapping(
        read_file(path, what="provider manifest"), file=str(path), what="provider.yaml"
    )
    data: dict[str, Any] = document.data
    return data


def _add_parameters(
    *,
    source: Path,
    target: Path,
    file: str,
    declarations: list[dict[str, Any]],
    catalogue: Path,
    notes: list[str],
    renames: dict[str, str],
) -> None:
    """Declare a golden path's parameters in its workflow file inside ``target`` (and rename
    the references to those ``renames`` says were renamed)."""
    original = (catalogue.parent / file).resolve()
    if not original.is_relative_to(source.resolve()):
        notes.append(
            f"workflow file {file} is outside {source}; copy it in and declare: "
            + ", ".join(d["name"] for d in declarations)
        )
        return
    path = target / original.relative_to(source.resolve())
    if not path.is_file():
        notes.append(
            f"workflow file {file} does not exist; create it with these parameters: "
            + ", ".join(d["name"] for d in declarations)
        )
        return
    try:
        data = _yaml_mapping(path)
    except InnominatusError as exc:
        notes.append(f"{file}: {exc.message}; declare its parameters by hand")
        return
    from reconciler.providers.legacy import merge_parameters
    from reconciler.yamlfile import dump

    merged, added = merge_parameters(data, declarations, renames)
    if added or renames:
        path.write_text(dump(merged))
        notes.append(
            f"{file}: declared parameters {', '.join(added)} (the file was rewritten; "
            "its comments were not kept)"
        )
