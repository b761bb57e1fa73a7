"""``innominatus schema [--config FILE] [-o FILE] [--strict]``: the JSON Schema of Score v1b1
for the providers innominatus loads, for editors (yaml-language-server, VS Code) and CI.

The providers are the configuration's (found as every command finds it), loaded as ``plan``
loads them (a source held back by a value of the daemon's host is left out, said on stderr);
without a configuration file, the built-in providers shipped beside the package (``providers/``
of a checkout, ``/opt/innominatus/providers`` in the image). The schema itself is
:func:`reconciler.providers.schema.score_schema`'s; this module is the click command only.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import click

from reconciler.cli.common import config_option, fail_cleanly, location_of, settings_of
from reconciler.cli.group import HELP_OPTIONS
from reconciler.errors import PermanentError

IMAGE_PROVIDERS = Path("/opt/innominatus/providers")
"""Where the container image puts the built-in providers (Dockerfile)."""


def builtin_providers_folder() -> Path | None:
    """The built-in providers: beside the package in a checkout, else the image's folder."""
    import reconciler

    for folder in (Path(reconciler.__file__).resolve().parents[1] / "providers", IMAGE_PROVIDERS):
        if folder.is_dir() and any(folder.glob("*/provider.yaml")):
            return folder
    return None


@click.command(context_settings=HELP_OPTIONS)
@config_option
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the schema to this file (its folder is created) instead of stdout, e.g. "
    ".innominatus/score.schema.json.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse params no create workflow declares (the daemon drops them with a warning).",
)
@click.pass_context
@fail_cleanly
def schema(ctx: click.Context, output: Path | None, strict: bool) -> None:
    """Write the JSON Schema (draft 2020-12) of Score v1b1 whose resource types are those the
    loaded providers claim, each type's params typed from its create workflow.

    Point an editor at it: `# yaml-language-server: $schema=.innominatus/score.schema.json`
    on the first line of a Score file, or VS Code's `yaml.schemas` setting.
    """
    from reconciler.assembly.review import load_providers, plan_data_dir
    from reconciler.providers.schema import score_schema
    from reconciler.score.schema import official_schema
    from reconciler.settings import ProviderSourceSettings

    settings = settings_of(ctx)
    if location_of(ctx).path is None and not settings.providers:
        folder = builtin_providers_folder()
        if folder is None:
            raise PermanentError(
                "no configuration file and no built-in providers folder found; pass the "
                "daemon's configuration with --config FILE"
            )
        sources = tuple(
            ProviderSourceSettings(name=manifest.parent.name, path=manifest.parent)
            for manifest in sorted(folder.glob("*/provider.yaml"))
        )
        settings = settings.model_copy(update={"providers": sources})
        click.echo(
            f"note: no configuration file; using the built-in providers in {folder}", err=True
        )

    def say(line: str) -> None:
        click.echo(line, err=True)

    with ExitStack() as scratch:
        loaded = load_providers(settings, data_dir=plan_data_dir(settings, scratch, say=say))
    if loaded.providers is None:
        raise PermanentError(loaded.problem or "no provider set could be loaded")
    for note in loaded.notes:
        say(f"warning: {note.message}; its types are missing from the schema")
    document = score_schema(loaded.providers, base=official_schema(), strict=strict)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    claimed = loaded.providers.claimed()
    say(f"wrote {output}: {len(claimed)} resource types ({', '.join(claimed) or 'none'})")
