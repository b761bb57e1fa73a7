"""``innominatus render SCORE [--outputs outputs.json]``: the workload with its placeholders
resolved (resource outputs from the JSON file: ``{"db": {"host": "...", "port": 5432}}``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.cli.group import HELP_OPTIONS
from reconciler.errors import InnominatusError


@click.command(context_settings=HELP_OPTIONS)
@click.argument("score", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--outputs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON: resource name -> its outputs.",
)
@click.option(
    "--output", "-o", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
def render(score: Path, outputs: Path | None, output: str) -> None:
    """Print the workload of SCORE with every placeholder resolved."""
    from reconciler.score.loader import load_workloads
    from reconciler.score.uid import resource_uid
    from reconciler.score.workload import UnresolvedPlaceholder, resolve_workload
    from reconciler.yamlfile import dump

    try:
        workloads = load_workloads(score.read_bytes(), file=str(score))
    except InnominatusError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    values: dict[str, dict[str, object]] = {}
    if outputs is not None:
        try:
            values = json.loads(outputs.read_text())
        except json.JSONDecodeError as exc:
            click.echo(f"error: {outputs}:{exc.lineno}: not JSON: {exc.msg}", err=True)
            sys.exit(1)
        if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
            click.echo(
                f"error: {outputs}: expected a map of resource names to output maps", err=True
            )
            sys.exit(1)
    documents = []
    for workload in workloads:
        for warning in workload.warnings:
            click.echo(f"warning: {warning}", err=True)
        uids = {
            name: resource_uid(app=workload.name, name=name, type=r.type, class_=r.class_, id=r.id)
            for name, r in workload.resources.items()
        }
        try:
            documents.append(resolve_workload(workload, outputs=values, uids=uids).spec)
        except UnresolvedPlaceholder as exc:
            hint = "" if outputs else "; pass the resources' outputs with --outputs outputs.json"
            click.echo(f"error: {score}: {exc}{hint}", err=True)
            sys.exit(1)
    if output == "json":
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    else:
        click.echo("---\n".join(dump(d) for d in documents), nl=False)
