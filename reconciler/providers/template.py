r"""A parser and evaluator for the Go-template subset innominatus workflows use (ARCHITECTURE
§5.5): ``{{ .parameters.x }}``, ``{{ .steps.<step-name>.output.<key> }}`` (hyphens allowed),
``{{ .previous.parameters.x }}``, ``{{ if … }}/{{ else if … }}/{{ else }}/{{ end }}``,
``{{ range $k, $v := .x }}``, ``eq``, ``ne``, ``not``, ``default``, ``now``, pipes
(``{{ .x | default "y" }}``), string and number literals, and ``{{-``/``-}}`` trimming.

Pure. Templates are parsed once (a syntax error is a :class:`TemplateError` with the line inside
the template; an ``{{`` that is never closed is one); evaluation hands every printed value to an
``emit`` callback, which is how script rendering keeps values out of shell syntax
(:mod:`reconciler.providers.rendering`).

String literals are Go's: ``"..."`` with the escapes ``\\ \" \n \t \r \a \b \f \v``,
``\xNN``, ``\uNNNN``, ``\UNNNNNNNN`` (any other character, ``é`` included, is itself), and raw
```...``` strings, taken as written.

**Truthiness** — one rule (:func:`truthy`) for ``{{ if }}``, ``not``, ``default`` and a step's
``if:``: false are ``null``, ``false``, a number equal to 0, an empty list or map, and a string
that is, ignoring case and surrounding white space, empty, ``"false"`` or ``"0"`` (parameters
often arrive as text: ``"0"`` means what ``0`` means, ``"False"`` what ``false`` means).
Everything else is true (``"no"``, ``"off"`` and ``"[]"`` included: YAML 1.2 has no such
booleans).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)'
    r"|(?P<field>(?:\$[A-Za-z_]\w*)?(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)+|\.)"
    r"|(?P<var>\$[A-Za-z_]\w*)|(?P<word>[A-Za-z_]\w*)|(?P<pipe>\|)|(?P<assign>:=)|(?P<comma>,))"
)


_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {
    "\\": "\\",
    '"': '"',
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}


class TemplateError(ValueError):
    """A template that does not parse or cannot be evaluated; ``line`` is 1-based within it."""

    def __init__(self, message: str, *, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[tuple[tuple[str, str], ...], ...]  # each command: tokens (kind, text)
    line: int


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Print:
    pipeline: Pipeline


@dataclass(frozen=True)
class If:
    branches: tuple[tuple[Pipeline, tuple[Any, ...]], ...]
    otherwise: tuple[Any, ...]


@dataclass(frozen=True)
class Range:
    key: str | None
    value: str | None
    source: Pipeline
    body: tuple[Any, ...]


def _tokens(expression: str, line: int) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            if expression[position:].strip() == "":
                break
            raise TemplateError(f"cannot read {expression[position:]!r}", line=line)
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _pipeline(tokens: list[tuple[str, str]], line: int) -> Pipeline:
    commands: list[tuple[tuple[str, str], ...]] = [()]
    for token in tokens:
        if token[0] == "pipe":
            commands.append(())
        else:
            commands[-1] = (*commands[-1], token)
    if any(not command for command in commands):
        raise TemplateError("empty expression", line=line)
    return Pipeline(tuple(commands), line)


def parse(source: str) -> tuple[Any, ...]:
    """The template's node tree; raises :class:`TemplateError` on any syntax problem."""
    stack: list[tuple[str, Any, list[Any]]] = [("root", None, [])]
    position = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[position : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            stack[-1][2].append(Text(text))
        trim_next = bool(match.group(3))
        position = match.end()
        line = source.count("\n", 0, match.start()) + 1
        body = match.group(2)
        if body.startswith("/*"):
            continue
        tokens = _tokens(body, line)
        if not tokens:
            raise TemplateError("empty action {{ }}", line=line)
        head = tokens[0]
        if head == ("word", "if"):
            stack.append(("if", {"branches": [], "cond": _pipeline(tokens[1:], line)}, []))
        elif head == ("word", "range"):
            rest = tokens[1:]
            key: str | None = None
            value: str | None = None
            if ("assign", ":=") in rest:
                split = rest.index(("assign", ":="))
                names = [t[1] for t in rest[:split] if t[0] == "var"]
                if len(names) not in (1, 2):
                    raise TemplateError("range takes $value or $key, $value", line=line)
                key, value = (names[0], names[1]) if len(names) == 2 else (None, names[0])
                rest = rest[split + 1 :]
            stack.append(("range", (key, value, _pipeline(rest, line)), []))
        elif head == ("word", "else"):
            kind, state, body_nodes = stack[-1]
            if kind != "if":
                raise TemplateError("{{ else }} outside {{ if }}", line=line)
            state["branches"].append((state["cond"], tuple(body_nodes)))
            if len(tokens) > 1 and tokens[1] == ("word", "if"):
                stack[-1] = (
                    "if",
                    {"branches": state["branches"], "cond": _pipeline(tokens[2:], line)},
                    [],
                )
            else:
                stack[-1] = ("else", state, [])
        elif head == ("word", "end"):
            kind, state, body_nodes = stack.pop()
            if kind == "if":
                node: Any = If(tuple([*state["branches"], (state["cond"], tuple(body_nodes))]), ())
            elif kind == "else":
                node = If(tuple(state["branches"]), tuple(body_nodes))
            elif kind == "range":
                node = Range(state[0], state[1], state[2], tuple(body_nodes))
            else:
                raise TemplateError("{{ end }} without {{ if }} or {{ range }}", line=line)
            stack[-1][2].append(node)
        else:
            stack[-1][2].append(Print(_pipeline(tokens, line)))
    tail = source[position:]
    if trim_next:
        tail = tail.lstrip()
    if tail:
        stack[-1][2].append(Text(tail))
    _check_unclosed(source)
    if len(stack) != 1:
        raise TemplateError(
            f"{{{{ {stack[-1][0]} }}}} is never closed with {{{{ end }}}}",
            line=source.count("\n") + 1,
        )
    return tuple(stack[0][2])


def _check_unclosed(source: str) -> None:
    """Refuse an ``{{`` with no ``}}`` after it: its text would be printed as is."""
    position = 0
    while True:
        start = source.find("{{", position)
        if start < 0:
            return
        end = source.find("}}", start + 2)
        if end < 0:
            line = source.count("\n", 0, start) + 1
            snippet = source[start : start + 30].split("\n", 1)[0]
            raise TemplateError(f"{snippet!r}: '{{{{' is never closed with '}}}}'", line=line)
        position = end + 2


def _unquote(text: str, line: int) -> str:
    """A Go string literal's value: ``"..."`` with its escapes, or a raw ```...``` as is."""
    if text[0] == "`":
        return text[1:-1]

    def escape(match: re.Match[str]) -> str:
        hex_code = match.group(1) or match.group(2) or match.group(3)
        if hex_code is not None:
            return chr(int(hex_code, 16))
        char = match.group(4)
        if char not in _SIMPLE_ESCAPES:
            raise TemplateError(f"unknown escape \\{char} in string {text}", line=line)
        return _SIMPLE_ESCAPES[char]

    try:
        return _ESCAPE.sub(escape, text[1:-1])
    except ValueError as exc:  # a \U beyond Unicode
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError(f"invalid escape in string {text}: {exc}", line=line) from exc


def truthy(value: Any) -> bool:
    """The one truthiness rule of templates and step conditions (see the module docstring)."""
    if value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0")
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return len(value) > 0
    return True


class _Scope:
    def __init__(self, context: Mapping[str, Any], variables: Mapping[str, Any]) -> None:
        self.context = context
        self.variables = variables

    def field(self, path: str, line: int) -> Any:
        if path.startswith("$"):
            name, _, rest = path.partition(".")
            value: Any = self.variables.get(name)
            parts = rest.split(".") if rest else []
        else:
            value = self.context
            parts = [p for p in path.split(".") if p]
        for depth, part in enumerate(parts):
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif parts[0] == "steps":
                shown = ".".join(parts[: depth + 1])
                raise TemplateError(
                    f".{shown} is not set (did that step run and output it?)", line=line
                )
            else:
                return None
        return value

    def command(
        self, tokens: tuple[tuple[str, str], ...], piped: Any, has_piped: bool, line: int
    ) -> Any:
        kind, text = tokens[0]
        args = [self.atom(t, line) for t in tokens[1:]]
        if has_piped:
            args.append(piped)
        if kind == "word":
            if text == "eq":
                return len(args) >= 2 and all(_same(args[0], other) for other in args[1:])
            if text == "ne":
                return len(args) == 2 and not _same(args[0], args[1])
            if text == "not":
                return not truthy(args[0]) if args else True
            if text == "default":
                if len(args) != 2:
                    raise TemplateError("default takes a fallback and a value", line=line)
                return args[1] if truthy(args[1]) else args[0]
            if text == "now":
                return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if text in ("true", "false"):
                return text == "true"
            raise TemplateError(
                f"unknown function {text!r}; known: eq, ne, not, default, now", line=line
            )
        if len(tokens) > 1 or has_piped:
            raise TemplateError(f"{text} is not a function", line=line)
        return self.atom(tokens[0], line)

    def atom(self, token: tuple[str, str], line: int) -> Any:
        kind, text = token
        if kind == "str":
            return _unquote(text, line)
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind in ("field", "var"):
            return self.field(text, line)
        if kind == "word" and text in ("true", "false"):
            return text == "true"
        raise TemplateError(f"unexpected {text!r}", line=line)

    def pipeline(self, pipeline: Pipeline) -> Any:
        value: Any = None
        for index, command in enumerate(pipeline.commands):
            value = self.command(command, value, index > 0, pipeline.line)
        return value


def _same(left: Any, right: Any) -> bool:
    if (isinstance(left, int | float) and isinstance(right, str)) or (
        isinstance(right, int | float) and isinstance(left, str)
    ):
        return str(left) == str(right)
    return bool(left == right)


def render(
    nodes: tuple[Any, ...],
    context: Mapping[str, Any],
    *,
    emit: Callable[[Any], str] | None = None,
    emit_slot: Callable[[Any, Pipeline], str] | None = None,
    variables: Mapping[str, Any] | None = None,
    out: list[str] | None = None,
) -> str:
    """Evaluate ``nodes``; literal text is kept, each printed value goes through ``emit`` —
    or through ``emit_slot`` with the expression that printed it, for renderers that name
    the parameter in a message or decide by its declaration."""
    parts = [] if out is None else out
    scope = _Scope(context, variables or {})

    def printed(value: Any, pipeline: Pipeline) -> str:
        if emit_slot is not None:
            return emit_slot(value, pipeline)
        assert emit is not None, "render needs emit or emit_slot"
        return emit(value)

    for node in nodes:
        if isinstance(node, Text):
            parts.append(node.text)
        elif isinstance(node, Print):
            parts.append(printed(scope.pipeline(node.pipeline), node.pipeline))
        elif isinstance(node, If):
            for condition, body in node.branches:
                if truthy(scope.pipeline(condition)):
                    render(
                        body,
                        context,
                        emit=emit,
                        emit_slot=emit_slot,
                        variables=scope.variables,
                        out=parts,
                    )
                    break
            else:
                render(
                    node.otherwise,
                    context,
                    emit=emit,
                    emit_slot=emit_slot,
                    variables=scope.variables,
                    out=parts,
                )
        elif isinstance(node, Range):
            source = scope.pipeline(node.source)
            items = source.items() if isinstance(source, Mapping) else enumerate(source or [])
            for key, value in (
                sorted(items, key=lambda kv: str(kv[0])) if isinstance(source, Mapping) else items
            ):
                bound = dict(scope.variables)
                if node.key:
                    bound[node.key] = key
                if node.value:
                    bound[node.value] = value
                render(
                    node.body, context, emit=emit, emit_slot=emit_slot, variables=bound, out=parts
                )
    return "".join(parts) if out is None else ""


def holds(
    nodes: tuple[Any, ...], context: Mapping[str, Any], *, emit: Callable[[Any], str]
) -> bool:
    """Whether a condition template (a step's ``if:``) is true by :func:`truthy`: the value of
    its one expression when it is one (so ``[]``, ``0`` and ``"0"`` are judged as values, as
    ``{{ if }}`` judges them), else the text it renders to."""
    significant = [n for n in nodes if not (isinstance(n, Text) and not n.text.strip())]
    if len(significant) == 1 and isinstance(significant[0], Print):
        return truthy(_Scope(context, {}).pipeline(significant[0].pipeline))
    return truthy(render(nodes, context, emit=emit))


def fields_of(nodes: tuple[Any, ...]) -> list[tuple[str, int]]:
    """Every field and variable the template reads, with the line (within it) that reads it:
    for the load-time check that each one can exist."""
    found: list[tuple[str, int]] = []

    def pipeline(item: Pipeline) -> None:
        found.extend((name, item.line) for name in reads(item))

    def walk(body: tuple[Any, ...]) -> None:
        for node in body:
            if isinstance(node, Print):
                pipeline(node.pipeline)
            elif isinstance(node, If):
                for condition, branch in node.branches:
                    pipeline(condition)
                    walk(branch)
                walk(node.otherwise)
            elif isinstance(node, Range):
                pipeline(node.source)
                walk(node.body)

    walk(nodes)
    return found


def source_of(pipeline: Pipeline) -> str:
    """The expression as the provider author wrote it (normalised spacing), for messages:
    template text, never a value."""
    return " | ".join(" ".join(text for _, text in command) for command in pipeline.commands)


def reads(pipeline: Pipeline) -> tuple[str, ...]:
    """The fields and variables the expression reads (``.parameters.host``, ``$value``)."""
    return tuple(
        text for command in pipeline.commands for kind, text in command if kind in ("field", "var")
    )


def parameter_of(pipeline: Pipeline) -> str | None:
    """The parameter whose value the expression prints when it is ``.parameters.<name>``
    (optionally piped through ``default``), else None."""
    fields = reads(pipeline)
    if len(fields) != 1 or not fields[0].startswith(".parameters."):
        return None
    name = fields[0].removeprefix(".parameters.")
    return None if "." in name else name


def describe_print(pipeline: Pipeline) -> str:
    """How a message names a printed value: ``parameter 'host'`` or the expression."""
    name = parameter_of(pipeline)
    return f"parameter '{name}'" if name else f"the value of {{{{ {source_of(pipeline)} }}}}"
