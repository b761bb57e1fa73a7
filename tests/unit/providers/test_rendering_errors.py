"""Issue 11, part 10: an error about a value names the parameter and the template line, never
the value — not even its first characters, which masking the whole secret would not catch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import PermanentError
from reconciler.providers.rendering import context_for, render_step
from reconciler.providers.template import TemplateError
from reconciler.providers.workflow import Workflow, apply_parameters, load_workflow

CANARY = "s3cr3t-canary-value"
WORKFLOW = """\
apiVersion: innominatus.io/v1alpha1
kind: Workflow
metadata: {name: w}
parameters:
  - {name: v, type: string}
  - {name: host, type: string, platform: true}
  - {name: code, type: string, pattern: '[a-z]+'}
steps:
  - name: dash
    type: shell
    config:
      script: |
        ssh {{ .parameters.v }} true
  - name: quoted-heredoc
    type: shell
    config:
      script: |
        cat <<'EOF'
        {{ .parameters.v }}
        EOF
  - name: manifest
    type: kubernetes
    config:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: x}
        data:
          s3cr3t-canary-value: "1"
          {{ .parameters.v }}: "2"
  - name: file-name
    type: git-commit
    config:
      url: mem://x
      files: {"{{ .parameters.v }}.txt": x}
  - name: url
    type: http
    config:
      url: "https://{{ .parameters.host }}/x/{{ .parameters.v }}"
"""
VALUES = {
    "dash": f"-o{CANARY}",
    "quoted-heredoc": f"$({CANARY})",
    "manifest": CANARY,
    "file-name": f"../{CANARY}",
}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Workflow:
    path = tmp_path_factory.mktemp("errors") / "w.yaml"
    path.write_text(WORKFLOW)
    return load_workflow(path)


@pytest.mark.parametrize("step", VALUES)
def test_a_rendering_error_names_the_parameter_and_line_never_the_value(
    workflow: Workflow, step: str
) -> None:
    [chosen] = [s for s in workflow.steps if s.name == step]
    context = context_for(parameters={"v": VALUES[step], "host": "api.test"}, steps={})
    with pytest.raises(TemplateError) as refused:
        render_step(chosen, context)
    assert "parameter 'v'" in str(refused.value)
    assert CANARY not in str(refused.value)
    assert VALUES[step] not in str(refused.value)
    assert refused.value.line > 0


def test_a_platform_host_that_is_not_a_host_is_named_not_shown(workflow: Workflow) -> None:
    [url] = [s for s in workflow.steps if s.name == "url"]
    context = context_for(parameters={"v": "x", "host": f"{CANARY}/evil"}, steps={})
    with pytest.raises(TemplateError, match="parameter 'host' is not a host name") as refused:
        render_step(url, context)
    assert CANARY not in str(refused.value)


def test_a_parameter_error_never_shows_a_prefix_of_a_secret_value(workflow: Workflow) -> None:
    secret = CANARY * 4  # longer than the 60 characters a message would show
    with pytest.raises(PermanentError) as refused:
        apply_parameters(workflow, {"code": secret}, secrets={secret})
    assert "parameter 'code' must match" in str(refused.value)
    assert CANARY not in str(refused.value)


@settings(max_examples=200, deadline=None)
@given(noise=st.text(max_size=20), step=st.sampled_from(sorted(VALUES)))
def test_no_rendering_error_quotes_a_hostile_value(
    workflow: Workflow, noise: str, step: str
) -> None:
    [chosen] = [s for s in workflow.steps if s.name == step]
    value = f"-{CANARY}{noise}\n'\"$(x)/../"
    context = context_for(parameters={"v": value, "host": "api.test"}, steps={})
    try:
        render_step(chosen, context)
    except TemplateError as exc:
        message = str(exc)
    else:
        message = ""
    assert CANARY not in message
