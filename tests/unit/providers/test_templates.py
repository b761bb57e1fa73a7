"""The workflow template language and injection-safe rendering."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.providers.rendering import render_script, render_value, shell_context
from reconciler.providers.template import TemplateError, parse, render

CONTEXT = {
    "parameters": {
        "db": "orders",
        "size": "medium",
        "replicas": 2,
        "on": True,
        "labels": {"b": "2", "a": "1"},
    },
    "steps": {"make-creds": {"output": {"user": "orders_app"}}},
    "previous": {"parameters": {"size": "small"}, "outputs": {"host": "old"}},
}


def text(source: str) -> str:
    return render(parse(source), CONTEXT, emit=lambda v: "" if v is None else str(v))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ .parameters.db }}", "orders"),
        ("{{ .steps.make-creds.output.user }}", "orders_app"),
        ("{{ .previous.parameters.size }}->{{ .parameters.size }}", "small->medium"),
        (
            '{{ if eq .parameters.size "small" }}S{{ else if eq .parameters.size "medium" }}M'
            "{{ else }}L{{ end }}",
            "M",
        ),
        ("{{ if not .parameters.missing }}none{{ end }}", "none"),
        ('{{ .parameters.missing | default "dflt" }}', "dflt"),
        ('{{ default "x" .parameters.db }}', "orders"),
        ("{{ if ne .parameters.replicas 3 }}not three{{ end }}", "not three"),
        ("a\n  {{- if .parameters.on }} on {{- end }}\nb", "a on\nb"),
        ("{{- range $k, $v := .parameters.labels }}{{ $k }}={{ $v }};{{- end }}", "a=1;b=2;"),
    ],
)
def test_the_corpus_subset_renders(source: str, expected: str) -> None:
    assert text(source) == expected


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("a\n{{ if .x }}\nb", 3, "never closed"),
        ("{{ end }}", 1, "without"),
        ("x\n{{ bogus .x }}", 2, "unknown function 'bogus'"),
        ("{{ else }}", 1, "outside"),
    ],
)
def test_template_errors_carry_their_line(source: str, line: int, message: str) -> None:
    with pytest.raises(TemplateError, match=message) as error:
        text(source)
    assert error.value.line == line


def test_a_missing_step_output_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(TemplateError, match=r"\.steps\.other is not set"):
        text("{{ .steps.other.output.x }}")


def test_config_values_render_leaf_by_leaf_so_values_never_add_structure() -> None:
    context = {"parameters": {"evil": "a\nkind: Secret\n- x"}}
    rendered = render_value({"manifest": {"name": "{{ .parameters.evil }}"}, "n": 1}, context)
    assert rendered == {"manifest": {"name": "a\nkind: Secret\n- x"}, "n": 1}


@pytest.mark.parametrize(
    ("script", "where"),
    [
        ("echo ", "unquoted"),
        ('echo "x ', "double"),
        ("echo 'x ", "single"),
        ("# comment ", "comment"),
        ("cat <<EOF\nbody ", "heredoc"),
        ("cat <<'EOF'\nbody ", "heredoc-literal"),
        ("cat <<EOF\nbody\nEOF\necho ", "unquoted"),
        ('echo "a\\"b ', "double"),
    ],
)
def test_shell_context(script: str, where: str) -> None:
    assert shell_context(script) == where


HOSTILE = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "'; touch PWNED; '",
    '"; touch PWNED; "',
    "a\ntouch PWNED",
    "${IFS}touch${IFS}PWNED",
    "a b  c",
    "*",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_reach_the_script_verbatim_and_execute_nothing(
    tmp_path: Path, value: str
) -> None:
    script = (
        'printf "%s" {{ .parameters.v }} > unquoted\n'
        'printf "%s" "{{ .parameters.v }}" > double\n'
        "printf \"%s\" '{{ .parameters.v }}' > single\n"
        "cat > heredoc <<EOF\n{{ .parameters.v }}\nEOF\n"
    )
    rendered, env = render_script(script, {"parameters": {"v": value}})
    subprocess.run(
        ["bash", "-c", rendered], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", **env}, check=True
    )
    assert not (tmp_path / "PWNED").exists()
    for name in ("unquoted", "double", "single"):
        assert (tmp_path / name).read_text() == value, name
    assert (tmp_path / "heredoc").read_text() == value + "\n"


def test_ordinary_values_are_inlined_as_the_corpus_expects() -> None:
    rendered, env = render_script('DB_NAME="{{ .parameters.db }}"', CONTEXT)
    assert rendered == 'DB_NAME="orders"'
    assert env == {}


def test_a_value_in_a_quoted_heredoc_is_refused() -> None:
    with pytest.raises(TemplateError, match="quoted delimiter"):
        render_script("cat <<'EOF'\n{{ .parameters.v }}\nEOF\n", {"parameters": {"v": "$(x)"}})
