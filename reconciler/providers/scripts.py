"""Rendering values into shell scripts (``config.script`` of ``shell``/``policy`` steps).

A value made only of safe characters is inlined, as the corpus scripts expect; any other value
becomes a reference to an environment variable holding it (passed to the step), quoted for the
context the expansion sits in (:mod:`.shellscan`): ``"${V}"`` unquoted, ``${V}`` inside double
quotes, a heredoc that expands or a comment, ``'"${V}"'`` inside single quotes. Besides:

- a template is refused **at load** where no value can be made safe: inside ``$(( ))``,
  ``(( ))``, ``[[ ]]``, backticks, array subscripts, ``${...}`` other than a default value, the
  command string of ``eval``, ``sh -c``/``bash -c``, ``su -c``, ``trap`` or ``let``, as the
  command name, and after a heredoc whose delimiter cannot be classified;
- a value starting with ``-`` is refused **at run time** where it begins a command argument
  (it would be an option: ``ssh {{ .parameters.host }}`` with ``-oProxyCommand=...``), unless
  its parameter declares ``allow_leading_dash: true``;
- in a heredoc whose delimiter is quoted only safe values fit, and never one that could end
  the heredoc early.

Messages name the parameter (or the expression) and the template line, never the value.
Pure; called by :mod:`.rendering` when a step runs and by :mod:`.contexts` when a workflow loads.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any

from reconciler.providers.shellscan import ShellScanner, Where
from reconciler.providers.slots import Holes, skeleton, text_of
from reconciler.providers.template import (
    Pipeline,
    TemplateError,
    describe_print,
    parameter_of,
    parse,
    render,
)

SAFE = re.compile(r"[A-Za-z0-9_./:@%+=,][A-Za-z0-9_./:@%+=,-]*")
"""Values inlined as they are: no shell syntax, no blank, no leading ``-``."""


@lru_cache(maxsize=4096)
def _parsed(source: str) -> tuple[Any, ...]:
    return parse(source)


def _refusal(where: Where, pipeline: Pipeline) -> TemplateError | None:
    """Why no value of ``pipeline`` may be placed at ``where``, whatever it is."""
    name = describe_print(pipeline)
    if where.refused is not None:
        return TemplateError(
            f"{name} sits {where.refused}; templates are refused there — read the value "
            "from $PARAM_<NAME> and check it before use",
            line=pipeline.line,
        )
    if where.command_name:
        return TemplateError(
            f"{name} is the command name, so a value would choose the program to run; "
            "name the program in the script",
            line=pipeline.line,
        )
    return None


def _could_end_heredoc(where: Where, text: str) -> bool:
    """Whether the heredoc's current line, with ``text`` and whatever follows, could be its
    delimiter line (the body would end early and its rest run as commands)."""
    line = where.heredoc_line.lstrip("\t") + text
    return where.heredoc_delimiter.startswith(line) or "\n" in text


def render_script(
    source: str, context: Mapping[str, Any], *, leading_dash: Collection[str] = ()
) -> tuple[str, dict[str, str]]:
    """The script with values inlined when safe, else as quoted env-var references; the env
    those references need. ``leading_dash``: parameters declared ``allow_leading_dash``."""
    env: dict[str, str] = {}
    out: list[str] = []
    scanner = ShellScanner()
    fed = 0

    def emit(value: Any, pipeline: Pipeline) -> str:
        nonlocal fed
        scanner.feed("".join(out[fed:]))
        fed = len(out)
        where = scanner.where()
        refused = _refusal(where, pipeline)
        if refused is not None:
            raise refused
        name = describe_print(pipeline)
        text = text_of(value)
        if (
            where.argument_start
            and text.startswith("-")
            and parameter_of(pipeline) not in leading_dash
        ):
            raise TemplateError(
                f"{name} starts with '-' where it begins a command argument, so the command "
                "would read it as an option; fix the value, put `--` before it, or declare "
                "`allow_leading_dash: true` on the parameter if it may be an option",
                line=pipeline.line,
            )
        if text == "" and where.quoting == "unquoted":
            return '""'  # still one (empty) word, as a value is wherever it lands
        heredoc = where.quoting in ("heredoc", "heredoc-literal")
        if (text == "" or SAFE.fullmatch(text)) and not (
            heredoc and _could_end_heredoc(where, text)
        ):
            return text
        if where.quoting == "heredoc-literal":
            raise TemplateError(
                f"{name} holds shell characters (or could end the heredoc), so it cannot be "
                "placed in a heredoc with a quoted delimiter; use an unquoted delimiter or "
                "reference $PARAM_<NAME>",
                line=pipeline.line,
            )
        variable = f"INNOMINATUS_V_{len(env) + 1}"
        env[variable] = text
        if where.quoting in ("double", "heredoc", "comment"):
            return "${" + variable + "}"
        if where.quoting == "single":
            return "'\"${" + variable + "}\"'"
        if where.quoting == "ansi":
            return "'\"${" + variable + "}\"$'"
        return '"${' + variable + '}"'

    render(_parsed(source), context, emit_slot=emit, out=out)
    return "".join(out), env


def script_problems(source: str) -> list[TemplateError]:
    """Every template of a script that sits where no value could be made safe (load time);
    each branch of an ``if`` is checked."""
    scanner = ShellScanner()
    problems: list[TemplateError] = []

    def on_print(pipeline: Pipeline) -> None:
        refused = _refusal(scanner.where(), pipeline)
        if refused is not None:
            problems.append(refused)

    def on_text(piece: str) -> None:
        scanner.feed(piece if not holes.found(piece) else "x")

    holes = Holes(source)
    skeleton(_parsed(source), holes, branches="all", on_text=on_text, on_print=on_print)
    return problems
