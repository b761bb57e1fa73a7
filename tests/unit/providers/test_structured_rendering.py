"""Values in text parsed later (issue 11, part 3): manifests, structured files, file names and
URLs are rendered by context, so a value is one scalar, one component, one path part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import Location
from reconciler.providers.contexts import Trust
from reconciler.providers.documents import InvalidInputError
from reconciler.providers.rendering import context_for, render_step
from reconciler.providers.template import TemplateError
from reconciler.providers.workflow import Step, Workflow, apply_parameters, load_workflow

HEAD = "apiVersion: innominatus.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"
BINDING = (
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
    "metadata: {name: pwned}\n"
    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n"
    "subjects: [{kind: User, name: mallory}]"
)
HOSTILE = [
    f"team-a\n---\n{BINDING}",
    f'team-a"\n---\n{BINDING}\n#',
    "1\n  image: evil:latest",
    "a: b",
    "- x",
    "!!python/object/apply:os.system ['id']",
    "*alias",
    "&anchor x",
    "{json: 1}",
    "'quoted'",
    "null",
    "",
]


def workflow(tmp_path: Path, body: str, parameters: str = "") -> Workflow:
    """A workflow of ``body``; without ``parameters`` it takes any (these tests are about where
    values land, not which parameters are declared)."""
    path = tmp_path / "w.yaml"
    path.write_text(HEAD + (parameters or "accept_undeclared_parameters: true\n") + body)
    return load_workflow(path)


def rendered(step: Step, parameters: dict[str, Any], **steps: dict[str, str]) -> Any:
    return render_step(step, context_for(parameters=parameters, steps=steps)).config


NAMESPACE = """\
steps:
  - name: ns
    type: kubernetes
    config:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {{ .parameters.name }}
          labels:
            managed-by: innominatus
            {{- range $key, $value := .parameters.labels }}
            {{ $key }}: "{{ $value }}"
            {{- end }}
        spec:
          replicas: {{ .parameters.replicas }}
          image: nginx:1.27
"""


@pytest.mark.parametrize("value", HOSTILE)
def test_a_manifest_value_is_one_scalar_never_a_document_or_a_key(
    tmp_path: Path, value: str
) -> None:
    step = workflow(tmp_path, NAMESPACE).steps[0]
    config = rendered(step, {"name": value, "labels": {"team": value}, "replicas": value})

    [document] = config["manifest"]
    assert document["kind"] == "Namespace"
    assert sorted(document) == ["apiVersion", "kind", "metadata", "spec"]
    assert document["metadata"]["labels"] == {"managed-by": "innominatus", "team": value}
    assert document["spec"]["image"] == "nginx:1.27"
    assert sorted(document["spec"]) == ["image", "replicas"]
    if "\n" in value or ":" in value:
        assert document["metadata"]["name"] == value
        assert document["spec"]["replicas"] == value


def test_the_cluster_role_binding_attack_adds_no_document(tmp_path: Path) -> None:
    step = workflow(tmp_path, NAMESPACE).steps[0]
    config = rendered(step, {"name": f"team-a\n---\n{BINDING}", "labels": {}, "replicas": 1})
    assert [document["kind"] for document in config["manifest"]] == ["Namespace"]


def test_a_whole_plain_scalar_becomes_the_value_with_its_type(tmp_path: Path) -> None:
    step = workflow(
        tmp_path,
        "steps:\n  - {name: s, type: shell, config: {command: ['true']}}\n"
        "  - name: m\n    type: kubernetes\n    config:\n      manifest: |\n"
        "        apiVersion: v1\n        kind: ConfigMap\n        metadata: {name: m}\n"
        "        data:\n"
        "          number: {{ .parameters.n }}\n"
        "          from_step: {{ .steps.s.output.replicas }}\n"
        "          flag: {{ .parameters.flag }}\n"
        "          mapping: {{ .parameters.labels }}\n"
        '          quoted: "{{ .parameters.n }}"\n'
        "          joined: {{ .parameters.n }}-{{ .parameters.flag }}\n"
        "          block: |\n            x={{ .parameters.n }}\n",
    ).steps[1]
    config = rendered(step, {"n": 3, "flag": "true", "labels": {"a": "1"}}, s={"replicas": "2"})
    assert config["manifest"][0]["data"] == {
        "number": 3,
        "from_step": 2,
        "flag": True,
        "mapping": {"a": "1"},
        "quoted": "3",
        "joined": "3-true",
        "block": "x=3\n",
    }


def test_a_value_may_not_replace_a_key_the_template_sets(tmp_path: Path) -> None:
    step = workflow(tmp_path, NAMESPACE).steps[0]
    with pytest.raises(TemplateError, match="renders a key its mapping already has"):
        rendered(step, {"name": "a", "labels": {"managed-by": "mallory"}, "replicas": 1})


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("a: !{{ .parameters.v }} x", "lands in a YAML tag"),
        ("a: &{{ .parameters.v }} x", "lands in a YAML anchor"),
        ("a:\n  b: 1\n  {{ .parameters.v }}", "not valid YAML once its values are left out"),
        ("{{ .parameters.v }}", "is the whole manifest"),
    ],
)
def test_a_manifest_template_that_cannot_be_filled_leaf_by_leaf_is_refused_at_load(
    tmp_path: Path, manifest: str, message: str
) -> None:
    body = "steps:\n  - name: m\n    type: kubernetes\n    config:\n      manifest: |\n"
    body += "".join(f"        {line}\n" for line in manifest.splitlines())
    with pytest.raises(InvalidInputError, match=message) as refused:
        workflow(tmp_path, body, "parameters:\n  - {name: v, type: string}\n")
    assert f"{tmp_path / 'w.yaml'}:" in str(refused.value)


def test_a_step_output_may_hand_over_a_whole_manifest(tmp_path: Path) -> None:
    step = workflow(
        tmp_path,
        "steps:\n  - {name: render, type: shell, config: {command: ['true']}}\n"
        "  - name: m\n    type: kubernetes\n    config:\n"
        '      manifest: "{{ .steps.render.output.manifests }}"\n',
    ).steps[1]
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    assert rendered(step, {}, render={"manifests": text})["manifest"] == text


FILES = """\
steps:
  - name: commit
    type: git-commit
    config:
      url: mem://state
      files:
        "apps/{{ .parameters.app }}/values.yaml": |
          app: {{ .parameters.app }}
          note: "{{ .parameters.note }}"
        "apps/{{ .parameters.app }}/config.json": |
          {"note": "{{ .parameters.note }}", "port": {{ .parameters.port }}}
        "apps/{{ .parameters.app }}/README.md": "note: {{ .parameters.note }}"
"""


@pytest.mark.parametrize("note", HOSTILE)
def test_structured_file_content_is_serialised_by_its_format(tmp_path: Path, note: str) -> None:
    step = workflow(tmp_path, FILES).steps[0]
    files = rendered(step, {"app": "shop", "note": note, "port": 8080})["files"]

    assert sorted(files) == [
        "apps/shop/README.md",
        "apps/shop/config.json",
        "apps/shop/values.yaml",
    ]
    assert list(yaml.safe_load_all(files["apps/shop/values.yaml"])) == [
        {"app": "shop", "note": note}
    ]
    assert json.loads(files["apps/shop/config.json"]) == {"note": note, "port": 8080}
    assert files["apps/shop/README.md"] == f"note: {note}"


@pytest.mark.parametrize("app", ["..", ".", "a/b", "../../etc", "x\ny"])
def test_a_file_name_value_is_one_path_component(tmp_path: Path, app: str) -> None:
    step = workflow(tmp_path, FILES).steps[0]
    with pytest.raises(TemplateError, match="parameter 'app' must be one path component"):
        rendered(step, {"app": app, "note": "n", "port": 1})


def test_a_platform_parameter_may_hold_a_folder_in_a_file_name(tmp_path: Path) -> None:
    step = workflow(
        tmp_path,
        "steps:\n  - name: c\n    type: git-commit\n    config:\n      url: mem://x\n"
        '      files: {"{{ .parameters.root }}/{{ .parameters.app_name }}.txt": hi}\n',
        "parameters:\n  - {name: root, type: string, default: clusters/prod, platform: true}\n",
    ).steps[0]
    assert rendered(step, {"root": "clusters/prod", "app_name": "shop"})["files"] == {
        "clusters/prod/shop.txt": "hi"
    }


def test_a_file_of_unknown_format_may_not_hold_a_template(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="format is unknown"):
        workflow(
            tmp_path,
            "steps:\n  - name: c\n    type: git-commit\n    config:\n      url: mem://x\n"
            '      files: {"main.tf": "name = \\"{{ .parameters.app_name }}\\""}\n',
        )


def http_step(tmp_path: Path, url: str, parameters: str = "") -> Step:
    body = f"steps:\n  - name: call\n    type: http\n    config:\n      url: {url!r}\n"
    return workflow(tmp_path, body, parameters).steps[0]


TENANTS = (
    "https://api.example.test/v1/tenants/{{ .parameters.tenant }}/quota?team={{ .parameters.team }}"
)


def test_a_value_cannot_turn_an_http_url_into_an_admin_call(tmp_path: Path) -> None:
    step = http_step(tmp_path, TENANTS)
    url = rendered(step, {"tenant": "../../admin/tenants/ALL?force=true#", "team": "a&force=1"})[
        "url"
    ]
    split = urlsplit(url)
    assert (split.scheme, split.netloc) == ("https", "api.example.test")
    encoded = "..%2F..%2Fadmin%2Ftenants%2FALL%3Fforce%3Dtrue%23"
    assert split.path.split("/") == ["", "v1", "tenants", encoded, "quota"]
    assert parse_qs(split.query) == {"team": ["a&force=1"]}
    assert split.fragment == ""


@pytest.mark.parametrize("tenant", ["..", ".", ""])
def test_a_value_making_a_path_segment_dot_dot_or_empty_is_refused(
    tmp_path: Path, tenant: str
) -> None:
    with pytest.raises(TemplateError, match="parameter 'tenant' makes a URL path segment"):
        rendered(http_step(tmp_path, TENANTS), {"tenant": tenant, "team": "a"})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://{{ .parameters.host }}/v1", "is the host of the URL"),
        ("https://api-{{ .parameters.host }}.example.test/v1", "part of the URL's host"),
        ("https://api.example.test:{{ .parameters.host }}/v1", "in the URL's port"),
        ("https://{{ .parameters.host }}@api.example.test/v1", "in the URL's credentials"),
        ("{{ .parameters.host }}/v1", "is the start of the URL"),
        ("ht{{ .parameters.host }}://x/v1", "starts with http:// or https://"),
    ],
)
def test_a_template_in_the_scheme_host_or_port_is_refused_at_load(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        http_step(tmp_path, url, "parameters:\n  - {name: host, type: string}\n")


def test_a_platform_parameter_may_be_the_host_or_the_base_url(tmp_path: Path) -> None:
    declared = (
        "parameters:\n"
        "  - {name: api, type: string, platform: true, default: 'https://a.test/v2/'}\n"
        "  - {name: host, type: string, platform: true, default: b.test}\n"
    )
    base = http_step(tmp_path, "{{ .parameters.api }}/items/{{ .parameters.app_name }}", declared)
    host = http_step(tmp_path, "http://{{ .parameters.host }}:8080/x", declared)
    values = {"api": "https://a.test/v2/", "host": "b.test", "app_name": "a b"}
    assert rendered(base, values)["url"] == "https://a.test/v2/items/a%20b"
    assert rendered(host, values)["url"] == "http://b.test:8080/x"
    with pytest.raises(TemplateError, match="is not a host name"):
        rendered(host, {**values, "host": "b.test/evil?"})


@settings(max_examples=300, deadline=None)
@given(tenant=st.text(min_size=1).filter(lambda t: t not in (".", "..")), team=st.text())
def test_any_value_is_one_url_component(tenant: str, team: str) -> None:
    step = Step(
        name="call",
        type="http",
        config={"url": TENANTS},
        timeout=None,
        when=None,
        location=Location("w.yaml"),
        trust=Trust(),
    )
    url = rendered(step, {"tenant": tenant, "team": team})["url"]
    split = urlsplit(url)
    assert (split.scheme, split.netloc, split.fragment) == ("https", "api.example.test", "")
    segments = split.path.split("/")
    assert len(segments) == 5
    assert unquote(segments[3]) == tenant
    assert parse_qs(split.query, keep_blank_values=True) == {"team": [team]}


@settings(max_examples=300, deadline=None)
@given(value=st.text() | st.integers() | st.booleans() | st.none())
def test_any_value_stays_one_scalar_of_a_manifest(value: Any) -> None:
    step = Step(
        name="m",
        type="kubernetes",
        config={"manifest": NAMESPACE.split("manifest: |\n", 1)[1].replace(" " * 8, "")},
        timeout=None,
        when=None,
        location=Location("w.yaml"),
        trust=Trust(),
    )
    [document] = rendered(step, {"name": value, "labels": {"k": value}, "replicas": value})[
        "manifest"
    ]
    assert sorted(document) == ["apiVersion", "kind", "metadata", "spec"]
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    assert document["metadata"]["labels"]["k"] == text
    assert not isinstance(document["spec"]["replicas"], dict | list)
    if isinstance(value, str) and any(c in value for c in "\n:#{}[]&*!|>'\"%@`,"):
        assert document["spec"]["replicas"] == value


def test_a_template_default_is_rendered_against_the_other_parameters(tmp_path: Path) -> None:

    declared = (
        "parameters:\n  - {name: app_name, type: string, required: true}\n"
        "  - {name: namespace, type: string, default: '{{ .parameters.app_name }}-ns'}\n"
        "  - {name: port, type: number, default: '{{ .parameters.base }}'}\n"
        "  - {name: base, type: number, default: 8000}\n"
    )
    steps = "steps:\n  - {name: r, type: shell, config: {command: [true]}}\n"
    wf = workflow(tmp_path, steps, declared)
    assert apply_parameters(wf, {"app_name": "shop"})["namespace"] == "shop-ns"
    assert apply_parameters(wf, {"app_name": "shop", "namespace": "own"})["namespace"] == "own"
    assert apply_parameters(wf, {"app_name": "shop", "base": 9000})["port"] == 9000


def test_a_template_default_may_read_only_other_parameters(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"may only read \.parameters\.<name>"):
        workflow(
            tmp_path,
            "steps:\n  - {name: r, type: shell, config: {command: [true]}}\n",
            "parameters:\n  - {name: p, type: string, default: '{{ .steps.r.output.x }}'}\n",
        )


ARGV = "steps:\n  - name: run\n    type: shell\n    config:\n      command: {command}\n"


def test_a_leading_dash_value_is_never_an_option_in_an_argv_list(tmp_path: Path) -> None:
    step = workflow(
        tmp_path,
        ARGV.format(command="[ssh, '{{ .parameters.host }}', --, '{{ .parameters.host }}']"),
        "parameters:\n  - {name: host, type: string}\n",
    ).steps[0]
    assert rendered(step, {"host": "db.internal"})["command"] == [
        "ssh",
        "db.internal",
        "--",
        "db.internal",
    ]
    with pytest.raises(TemplateError, match="parameter 'host' starts with '-'"):
        rendered(step, {"host": "-oProxyCommand=touch /tmp/x"})


def test_a_value_never_chooses_the_program_of_an_argv_list(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="is in the program name"):
        workflow(
            tmp_path,
            ARGV.format(command="['{{ .parameters.tool }}', --version]"),
            "parameters:\n  - {name: tool, type: string}\n",
        )


@pytest.mark.parametrize("kind", ["kubernetes", "git-commit"])
def test_a_resource_param_never_chooses_the_repository_files_are_pushed_to(
    tmp_path: Path, kind: str
) -> None:
    body = (
        f"steps:\n  - name: push\n    type: {kind}\n    config:\n"
        "      url: 'https://git.example.test/{{ .parameters.team }}.git'\n"
        "      files: {a.txt: x}\n      manifest: {apiVersion: v1, kind: Namespace, "
        "metadata: {name: a}}\n"
    )
    with pytest.raises(InvalidInputError, match="parameter 'team' is in the repository URL"):
        workflow(tmp_path, body, "parameters:\n  - {name: team, type: string}\n")
