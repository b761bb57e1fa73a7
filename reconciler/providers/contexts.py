"""Which rendering context each templated value of a step's config is in (invariant 11: a value
is one value wherever it lands), checked when a workflow loads and applied when a step runs.

- ``shell``/``policy`` ``script``: a shell script (:mod:`.scripts`);
- ``kubernetes`` ``manifest`` (text): YAML, leaf by leaf (:mod:`.structured`);
- ``git-commit`` ``files`` keys: a path, each value one path component;
- ``git-commit`` ``files`` values, by the file's extension: ``.yaml``/``.yml``/``.json`` leaf by
  leaf, then serialised; ``.txt``/``.md`` text; any other file may not hold a template;
- ``http`` ``url``: URL components (:mod:`.urls`);
- ``kubernetes``/``git-commit``/``argocd-app`` ``url``: the platform's repository — a template
  there must be one ``platform: true`` parameter (or a step output);
- ``gitea-repo`` ``gitea_url``: where the step sends its token — a template there must be
  exactly one parameter, which then only the platform may set (:func:`credential_parameters`:
  the corpus declares it as an ordinary parameter, and a resource's value would choose the
  server that receives the token);
- ``shell``/``policy``/``exec`` ``command`` (argv): each item one argument; a value beginning
  an item before ``--`` may not start with ``-`` (unless ``allow_leading_dash``), and the
  program is never a template;
- every other string of any step: the string itself, rendered after the YAML was parsed.

A ``manifest`` or file content that is exactly one step output (``{{ .steps.render.output.
manifests }}``) is that step's text, handed over whole. Pure; used by :mod:`.rendering` and
:mod:`.workflow`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any, TypeGuard

from reconciler.providers.scripts import render_script, script_problems
from reconciler.providers.slots import Holes, fill, skeleton, text_of
from reconciler.providers.structured import (
    documents_problems,
    dump_json,
    dump_yaml,
    handover,
    render_documents,
)
from reconciler.providers.template import (
    TemplateError,
    describe_print,
    parameter_of,
    parse,
    render,
)
from reconciler.providers.urls import render_url, url_problems

SCRIPT_STEP_TYPES = frozenset({"shell", "policy"})
ARGV_STEP_TYPES = frozenset({"shell", "policy", "exec"})
GIT_STEP_TYPES = frozenset({"kubernetes", "git-commit", "argocd-app"})
CREDENTIAL_URLS = {"gitea-repo": "gitea_url"}
"""Step type -> the config key naming the server its token is sent to."""
TEXT_SUFFIXES = (".txt", ".md")
Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Trust:
    """What the workflow declares about its parameters, as rendering needs it."""

    platform: frozenset[str] = frozenset()
    """Parameters only the platform sets (``platform: true``): may be a URL's host or base,
    and may hold ``/`` in a path."""
    leading_dash: frozenset[str] = frozenset()
    """Parameters declared ``allow_leading_dash: true``."""


@lru_cache(maxsize=4096)
def _parsed(source: str) -> tuple[Any, ...]:
    return parse(source)


def _is_template(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and "{{" in value


def _format(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith(TEXT_SUFFIXES):
        return "text"
    return "other"


def render_path(source: str, context: Mapping[str, Any], trust: Trust) -> str:
    """A relative file name with each value one path component (``platform`` ones may hold
    ``/``); the step still refuses ``..`` and absolute paths."""
    holes = Holes(source)
    text, slots = fill(_parsed(source), context, holes)
    parts: list[str] = []
    for piece in holes.pieces(text):
        if isinstance(piece, str):
            parts.append(piece)
            continue
        slot = slots[piece]
        value = text_of(slot.value)
        slash = "/" in value and parameter_of(slot.pipeline) not in trust.platform
        if slash or "\0" in value or "\n" in value or value in (".", ".."):
            raise TemplateError(
                f"{describe_print(slot.pipeline)} must be one path component (no '/', not '.' "
                "or '..') where it names a file",
                line=slot.pipeline.line,
            )
        parts.append(value)
    name = "".join(parts)
    if any(part in (".", "..") for part in PurePosixPath(name).parts) or name.startswith("/"):
        raise TemplateError("a file name renders outside its folder ('..' or a leading '/')")
    return name


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string leaf of a parsed config value (structure never changes)."""
    if isinstance(value, str):
        return _text(value, context) if "{{" in value else value
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def _text(source: str, context: Mapping[str, Any]) -> str:
    """A template rendered as plain text: each value's text concatenated in."""
    return render(_parsed(source), context, emit=text_of)


def _content(name: str, source: str, context: Mapping[str, Any]) -> str:
    if handover(source):
        return _text(source, context)
    kind = _format(name)
    if kind == "yaml":
        return dump_yaml(render_documents(source, context, what=name))
    if kind == "json":
        return dump_json(render_documents(source, context, what=name), name=name)
    if kind == "text":
        return _text(source, context)
    raise TemplateError(
        f"file {name!r} holds a template but its format is unknown, so a value could add "
        f"structure to it; name it .yaml, .yml or .json (rendered by format) or "
        f"{'/'.join(TEXT_SUFFIXES)} (text)"
    )


def _render_files(files: Mapping[Any, Any], context: Mapping[str, Any], trust: Trust) -> Any:
    rendered: dict[Any, Any] = {}
    for key, content in files.items():
        name = render_path(key, context, trust) if _is_template(key) else key
        if name in rendered:
            raise TemplateError(f"two files render to the same name (from {key!r})")
        if _is_template(content):
            rendered[name] = _content(str(name), content, context)
        else:
            rendered[name] = render_value(content, context)
    return rendered


def render_special(
    step_type: str, config: Mapping[str, Any], context: Mapping[str, Any], trust: Trust
) -> tuple[dict[str, Any], dict[str, str]]:
    """The config values rendered by their own context (the caller renders the rest leaf by
    leaf), and the environment a rendered script refers to."""
    special: dict[str, Any] = {}
    env: dict[str, str] = {}
    script = config.get("script")
    if step_type in SCRIPT_STEP_TYPES and _is_template(script):
        special["script"], env = render_script(script, context, leading_dash=trust.leading_dash)
    manifest = config.get("manifest")
    if step_type == "kubernetes" and _is_template(manifest):
        special["manifest"] = (
            _text(manifest, context)
            if handover(manifest)
            else render_documents(manifest, context, what="config.manifest")
        )
    files = config.get("files")
    if step_type == "git-commit" and isinstance(files, Mapping):
        special["files"] = _render_files(files, context, trust)
    url = config.get("url")
    if step_type == "http" and _is_template(url):
        special["url"] = render_url(url, context, platform=trust.platform)
    command = config.get("command")
    if step_type in ARGV_STEP_TYPES and isinstance(command, list):
        special["command"] = _render_argv(command, context, trust)
    return special, env


def _render_argv(command: list[Any], context: Mapping[str, Any], trust: Trust) -> list[Any]:
    """An argv list, each item rendered as itself; a value that begins an item and starts with
    ``-`` would be an option, so it is refused before a literal ``--`` unless its parameter
    declares ``allow_leading_dash``."""
    rendered: list[Any] = []
    options = True
    for item in command:
        if not _is_template(item):
            rendered.append(item)
            options = options and item != "--"
            continue
        holes = Holes(item)
        text, slots = fill(_parsed(item), context, holes)
        pieces = list(holes.pieces(text))
        first = pieces[0] if pieces else ""
        if options and isinstance(first, int):
            slot = slots[first]
            value = text_of(slot.value)
            if value.startswith("-") and parameter_of(slot.pipeline) not in trust.leading_dash:
                raise TemplateError(
                    f"{describe_print(slot.pipeline)} starts with '-' where it begins a "
                    "command argument, so the program would read it as an option; fix the "
                    "value, put '--' before it, or declare `allow_leading_dash: true` on the "
                    "parameter if it may be an option",
                    line=slot.pipeline.line,
                )
        rendered.append(
            "".join(p if isinstance(p, str) else text_of(slots[p].value) for p in pieces)
        )
    return rendered


def _whole_parameter(source: str) -> str | None:
    """The expression when a template is one print of a parameter and nothing else."""
    holes = Holes(source)
    text, slots = skeleton(_parsed(source), holes, branches="first")
    index = holes.whole(text.strip())
    if index is None or not parameter_of(slots[index].pipeline):
        return None
    return describe_print(slots[index].pipeline)


def credential_parameters(
    step_type: str, config: Mapping[str, Any]
) -> tuple[frozenset[str], list[tuple[Path_, TemplateError]]]:
    """The parameters that choose where a step of ``step_type`` sends its token (only the
    platform may set those), and the templates there that are more than one parameter."""
    key = CREDENTIAL_URLS.get(step_type)
    source = config.get(key) if key is not None else None
    if key is None or not _is_template(source):
        return frozenset(), []
    holes = Holes(source)
    try:
        text, slots = skeleton(_parsed(source), holes, branches="first")
    except TemplateError:
        return frozenset(), []  # a syntax error: the template check of the workflow reports it
    index = holes.whole(text.strip())
    name = parameter_of(slots[index].pipeline) if index is not None else None
    if name:
        return frozenset({name}), []
    pipeline = slots[index if index is not None else 0].pipeline
    problem = TemplateError(
        f"{describe_print(pipeline)} is in `{key}`, the server this step sends its token to; "
        "write the URL, or make the whole value one parameter (only the platform may set it)",
        line=pipeline.line,
    )
    return frozenset(), [((key,), problem)]


def config_problems(
    step_type: str, config: Mapping[str, Any], trust: Trust
) -> list[tuple[Path_, TemplateError]]:
    """Every templated value that sits where no value can be made safe, with the config key
    it is under (load time). Templates that do not parse are reported elsewhere."""
    found: list[tuple[Path_, TemplateError]] = []

    def check(path: Path_, run: Any, *args: Any, **kwargs: Any) -> None:
        try:
            found.extend((path, problem) for problem in run(*args, **kwargs))
        except TemplateError:
            return  # a syntax error: the template check of the workflow reports it

    script = config.get("script")
    if step_type in SCRIPT_STEP_TYPES and _is_template(script):
        check(("script",), script_problems, script)
    manifest = config.get("manifest")
    if step_type == "kubernetes" and _is_template(manifest) and not handover(manifest):
        check(("manifest",), _manifest_problems, manifest)
    files = config.get("files")
    if step_type == "git-commit" and isinstance(files, Mapping):
        for key, content in files.items():
            check(("files", key), _file_problems, str(key), content)
    url = config.get("url")
    if step_type == "http" and _is_template(url):
        check(("url",), url_problems, url, platform=trust.platform)
    if step_type in GIT_STEP_TYPES and _is_template(url):
        check(("url",), _git_url_problems, url, trust)
    command = config.get("command")
    if step_type in ARGV_STEP_TYPES and isinstance(command, list) and _is_template(command[0]):
        check(("command", 0), _program_problems, command[0])
    return found


def _program_problems(source: str) -> list[TemplateError]:
    holes = Holes(source)
    _, slots = skeleton(_parsed(source), holes, branches="first")
    return [
        TemplateError(
            f"{describe_print(slot.pipeline)} is in the program name, so a value would choose "
            "the program to run; name the program in the workflow",
            line=slot.pipeline.line,
        )
        for slot in slots[:1]
    ]


def _git_url_problems(source: str, trust: Trust) -> list[TemplateError]:
    """A repository to push to is the platform's: a template there must be one parameter
    declared ``platform: true`` (or a step output), never a resource's value."""
    holes = Holes(source)
    text, slots = skeleton(_parsed(source), holes, branches="first")
    if not slots:
        return []
    index = holes.whole(text.strip())
    if index is not None:
        pipeline = slots[index].pipeline
        if parameter_of(pipeline) in trust.platform or not parameter_of(pipeline):
            return []
    pipeline = slots[index if index is not None else 0].pipeline
    return [
        TemplateError(
            f"{describe_print(pipeline)} is in the repository URL, so a value would choose "
            "where files are pushed (and which credentials go there); write the URL, use a "
            "parameter declared `platform: true`, or set it in step_defaults",
            line=pipeline.line,
        )
    ]


def _manifest_problems(source: str) -> list[TemplateError]:
    whole = _whole_parameter(source)
    if whole is not None:
        return [
            TemplateError(
                f"{whole} is the whole manifest, so a value would be the structure; write the "
                "manifest and put values in its fields"
            )
        ]
    return documents_problems(source, what="config.manifest")


def _file_problems(name: str, content: Any) -> list[TemplateError]:
    if not _is_template(content) or handover(content):
        return []
    suffix = name.rsplit("}}", 1)[-1]
    if "." not in suffix:
        return []  # the extension comes from a value: checked when the step runs
    kind = _format(suffix)
    if kind in ("yaml", "json"):
        return documents_problems(content, what=name)
    if kind == "other":
        return [
            TemplateError(
                f"file {name!r} holds a template but its format is unknown, so a value could "
                "add structure to it; name it .yaml, .yml or .json (rendered by format) or "
                f"{'/'.join(TEXT_SUFFIXES)} (text)"
            )
        ]
    return []
