"""Values in shell scripts (issue 11, part 4): never an option, never code, one argument
whatever heredoc came before — each attack run through real bash."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.providers.documents import InvalidInputError
from reconciler.providers.rendering import context_for, render_step
from reconciler.providers.scripts import render_script, script_problems
from reconciler.providers.shellscan import ShellScanner
from reconciler.providers.template import TemplateError
from reconciler.providers.workflow import load_workflow


def bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def arguments(tmp_path: Path, script: str, value: str) -> list[str]:
    """The arguments ``printf '%s\\0'`` received where the script prints ``{{ .parameters.v }}``
    (its output goes to ``args``)."""
    rendered, env = render_script(script, {"parameters": {"v": value}})
    result = bash(rendered, env, tmp_path)
    assert result.returncode == 0, result.stderr
    return (tmp_path / "args").read_text().split("\0")[:-1]


def test_a_value_starting_with_a_dash_is_never_an_option_of_ssh(tmp_path: Path) -> None:
    canary = tmp_path / "PWNED"
    script = "ssh -o BatchMode=yes {{ .parameters.host }} true\n"

    with pytest.raises(TemplateError, match="parameter 'host' starts with '-'") as refused:
        render_script(script, {"parameters": {"host": f"-oProxyCommand=touch {canary}"}})

    assert "allow_leading_dash" in str(refused.value)
    assert str(canary) not in str(refused.value), "the message never quotes the value"
    assert not canary.exists()


@pytest.mark.parametrize(
    "script",
    [
        'printf "%s\\0" "{{ .parameters.v }}" > args\n',
        "printf '%s\\0' '{{ .parameters.v }}' > args\n",
        'X=$(printf "%s\\0" {{ .parameters.v }}); printf "%s" "$X" > args\n',
        'printf "%s\\0" ${UNSET:-{{ .parameters.v }}} > args\n',
    ],
)
def test_a_leading_dash_value_is_refused_wherever_it_begins_a_command_argument(
    script: str,
) -> None:
    with pytest.raises(TemplateError, match="begins a command argument"):
        render_script(script, {"parameters": {"v": "--output=/etc/passwd"}})


@pytest.mark.parametrize(
    "script",
    [
        'V="{{ .parameters.v }}"; printf "%s\\0" "$V" > args\n',
        "export V={{ .parameters.v }}; printf '%s\\0' \"$V\" > args\n",
        "printf '%s\\0' -- {{ .parameters.v }} > args\n",
        "printf '%s\\0' x{{ .parameters.v }} > args\n",
        "cat > args <<EOF\n{{ .parameters.v }}\nEOF\n",
        "# {{ .parameters.v }}\nprintf '%s\\0' ok > args\n",
    ],
)
def test_a_leading_dash_value_is_data_in_assignments_heredocs_comments_and_after_double_dash(
    tmp_path: Path, script: str
) -> None:
    value = "-oProxyCommand=touch PWNED"
    rendered, env = render_script(script, {"parameters": {"v": value}})
    result = bash(rendered, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_a_parameter_declared_allow_leading_dash_arrives_as_one_argument(tmp_path: Path) -> None:
    script = "printf '%s\\0' {{ .parameters.flags }} > args\n"
    rendered, env = render_script(
        script, {"parameters": {"flags": "--depth 1"}}, leading_dash={"flags"}
    )
    assert bash(rendered, env, tmp_path).returncode == 0
    assert (tmp_path / "args").read_text().split("\0")[:-1] == ["--depth 1"]


HEREDOCS = [
    "cat <<EOF\nit's here\nEOF\n",
    "cat <<\\EOF\nit's here\nEOF\n",
    'cat <<"EOF"\nit\'s here\nEOF\n',
    "cat <<'EOF'\nit's here\nEOF\n",
    "cat <<-'EOF'\n\tit's here\n\tEOF\n",
    "cat <<-EOF\n\tit's here\n\tEOF\n",
    "cat << EOF\nit's here\nEOF\n",
    'cat <<E"O"F\nit\'s here\nEOF\n',
    "cat <<EOF >/dev/null; cat <<'END'\nit's\nEOF\nit's\nEND\n",
    'cat <<EOF | tr a b\n$(echo "it\'s")\nEOF\n',
]


@pytest.mark.parametrize("heredoc", HEREDOCS)
def test_after_any_heredoc_a_value_is_still_one_argument(tmp_path: Path, heredoc: str) -> None:
    script = heredoc + "printf '%s\\0' {{ .parameters.v }} > args\n"
    assert arguments(tmp_path, script, "one value; rm -rf x") == ["one value; rm -rf x"]


@pytest.mark.parametrize("opener", ["cat <<$X", 'cat <<"E$X"', "cat <<`x`"])
def test_templates_after_a_heredoc_that_cannot_be_classified_are_refused(opener: str) -> None:
    script = f"{opener}\nit's\nEOF\necho {{{{ .parameters.v }}}}\n"
    [problem] = script_problems(script)
    assert "cannot be classified" in str(problem)
    assert problem.line == 4


@pytest.mark.parametrize("delimiter", ["EOF", "EO", ""])
def test_a_value_can_never_end_a_heredoc_early(tmp_path: Path, delimiter: str) -> None:
    script = "cat > args <<EOF\n{{ .parameters.v }}\ntouch PWNED\nEOF\n"
    rendered, env = render_script(script, {"parameters": {"v": delimiter}})
    assert bash(rendered, env, tmp_path).returncode == 0
    assert not (tmp_path / "PWNED").exists()
    assert (tmp_path / "args").read_text() == f"{delimiter}\ntouch PWNED\n"


def test_a_value_that_could_end_a_quoted_heredoc_is_refused() -> None:
    with pytest.raises(TemplateError, match="could end the heredoc"):
        render_script("cat <<'EOF'\n{{ .parameters.v }}\nEOF\n", {"parameters": {"v": "EOF"}})


CODE = {
    "arithmetic": "echo $(( {{ .parameters.v }} + 1 ))",
    "arithmetic command": "(( n = {{ .parameters.v }} ))",
    "let": 'let "n = {{ .parameters.v }}"',
    "double brackets": '[[ "{{ .parameters.v }}" == x ]] && echo yes',
    "array subscript": "a[{{ .parameters.v }}]=1",
    "parameter expansion": "echo ${a[{{ .parameters.v }}]}",
    "eval": 'eval "echo {{ .parameters.v }}"',
    "eval of a substitution": 'eval "$(printf %s {{ .parameters.v }})"',
    "sh -c": "sh -c 'echo {{ .parameters.v }}'",
    "bash -ec": 'bash -ec "echo {{ .parameters.v }}"',
    "sh -c through kubectl": "kubectl exec pod -- sh -c 'ls {{ .parameters.v }}'",
    "su -c": "su - app -c 'id {{ .parameters.v }}'",
    "trap": "trap 'rm {{ .parameters.v }}' EXIT",
    "backticks": "echo `echo {{ .parameters.v }}`",
    "command name": "{{ .parameters.v }} --version",
    "heredoc delimiter": "cat <<{{ .parameters.v }}\nx\n",
}


@pytest.mark.parametrize("place", CODE)
def test_templates_where_a_value_would_be_code_are_refused_when_the_workflow_loads(
    tmp_path: Path, place: str
) -> None:
    path = tmp_path / "w.yaml"
    script = textwrap.indent(f"set -eu\n{CODE[place]}\n", " " * 8)
    path.write_text(
        "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
        "parameters:\n  - {name: v, type: string}\n"
        f"steps:\n  - name: run\n    type: shell\n    config:\n      script: |\n{script}"
    )
    with pytest.raises(InvalidInputError) as refused:
        load_workflow(path)
    message = str(refused.value)
    assert f"{path}:12: step 'run', config.script: parameter 'v'" in message, message


def test_arithmetic_would_run_a_value_even_from_an_environment_variable(tmp_path: Path) -> None:
    """Why arithmetic is refused rather than given an env reference like other contexts."""
    result = bash("echo $(( V + 1 ))", {"V": "a[$(touch PWNED)]"}, tmp_path)
    assert result.returncode == 0
    assert (tmp_path / "PWNED").exists()


def test_the_corpus_heredoc_and_default_value_forms_still_render(tmp_path: Path) -> None:
    script = (
        'TOKEN="${GITEA_TOKEN:-{{ .parameters.token }}}"\n'
        "cat <<EOF > args\n"
        '{ "name": "{{ .parameters.v }}", "token": "$TOKEN" }\n'
        "EOF\n"
    )
    rendered, env = render_script(script, {"parameters": {"v": "shop", "token": "a b"}})
    assert bash(rendered, env, tmp_path).returncode == 0
    assert (tmp_path / "args").read_text() == '{ "name": "shop", "token": "a b" }\n'


SCRIPT = (
    "printf '%s\\0' {{ .parameters.v }} \"{{ .parameters.v }}\" '{{ .parameters.v }}' > args\n"
    "cat <<\\EOF\nit's\nEOF\n"
    "printf '%s\\0' \"$(printf '%s.' {{ .parameters.v }})\" >> args\n"
    "cat >> args <<EOF\n{{ .parameters.v }}\nEOF\n"
)
VALUES = st.text(
    alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=40
).filter(lambda value: not value.startswith("-"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=VALUES)
def test_any_value_is_one_argument_in_every_quoting_context(tmp_path: Path, value: str) -> None:
    rendered, env = render_script(SCRIPT, {"parameters": {"v": value}})
    result = bash(rendered, env, tmp_path)
    assert result.returncode == 0, result.stderr
    printed = (tmp_path / "args").read_bytes().decode()
    first, _, heredoc = printed.rpartition("\0")
    assert first.split("\0") == [value, value, value, value + "."]
    assert heredoc == value + "\n"
    assert not list(tmp_path.glob("PWNED*"))


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet="ab $(){}[]'\"`\\<>-|&;#=:\n\tEOF", max_size=200) | st.text())
def test_the_shell_scanner_reads_any_text(text: str) -> None:
    scanner = ShellScanner()
    for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
        scanner.feed(piece)
        scanner.where()


def test_a_workflow_parameter_may_declare_allow_leading_dash(tmp_path: Path) -> None:

    path = tmp_path / "w.yaml"
    path.write_text(
        "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
        "parameters:\n  - {name: flags, type: string, allow_leading_dash: true}\n"
        "  - {name: target, type: string}\n"
        "steps:\n  - name: run\n    type: shell\n    config:\n      script: |\n"
        "        printf '%s\\0' {{ .parameters.flags }} > args\n"
        "        printf '%s\\0' {{ .parameters.target }} >> args\n"
    )
    step = load_workflow(path).steps[0]
    values = {"flags": "--depth=1", "target": "-rf"}

    with pytest.raises(TemplateError, match="parameter 'target' starts with '-'"):
        render_step(step, context_for(parameters=values, steps={}))
    rendered = render_step(step, context_for(parameters={**values, "target": "x"}, steps={}))
    assert bash(rendered.config["script"], dict(rendered.env), tmp_path).returncode == 0
    assert (tmp_path / "args").read_text().split("\0")[:-1] == ["--depth=1", "x"]
