"""Whatever provider.yaml holds, loading it ends in a provider or a PermanentError, nothing else."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError, PermanentError
from reconciler.providers import ProviderSetError, load_provider, load_provider_set
from reconciler.settings import ProviderSourceSettings

KEYS = (
    "apiVersion", "kind", "metadata", "name", "version", "capabilities", "resourceTypes",
    "resourceTypeCapabilities", "type", "aliasFor", "operations", "create", "read", "update",
    "delete", "deploy", "workflow", "workflows", "tags", "default", "file", "category",
    "operation", "compatibility", "minCoreVersion", "maxCoreVersion", "description",
    "provisioners", "steps", "parameters", "outputs", "config", "timeout", "if", "secret", "value",
)  # fmt: skip
WORDS = (
    "v1", "Provider", "Platform", "Workflow", "innominatus.io/v1alpha1", "1.0.0", "2.0.0-rc.1",
    "1.0", "wf", "p", "postgres", "pg", "./workflows/wf.yaml", "workflows/wf.yaml", "../wf.yaml",
    "/etc/hostname", ".", "", "create", "delete", "provisioner", "goldenpath", "5m", "string",
    "number", "a\x00b", "x" * 300,
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(WORDS),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), children, max_size=5
        ),
    ),
    max_leaves=25,
)


def either(valid: Any) -> st.SearchStrategy[Any]:
    """``valid`` most of the time, an arbitrary tree otherwise, so examples reach deep checks."""
    return st.integers(0, 7).flatmap(lambda roll: trees if roll == 0 else st.just(valid))


@st.composite
def manifests(draw: st.DrawFn) -> Any:
    """A provider.yaml document: each part valid or replaced by an arbitrary tree."""
    operation = draw(either({"workflow": draw(either("wf"))}))
    capability = draw(
        either({"type": "postgres", "operations": draw(either({"create": operation}))})
    )
    alias = draw(either({"type": "pg", "aliasFor": draw(either("postgres"))}))
    entry = draw(
        either({"name": "wf", "file": draw(either("workflows/wf.yaml")), "operation": "create"})
    )
    return draw(
        either(
            {
                "apiVersion": draw(either("v1")),
                "kind": draw(either("Provider")),
                "metadata": draw(either({"name": "p", "version": draw(either("1.0.0"))})),
                "capabilities": draw(
                    either(
                        {
                            "resourceTypeCapabilities": [capability, alias],
                            "resourceTypes": draw(either(["postgres", "pg"])),
                        }
                    )
                ),
                "workflows": draw(either([entry])),
            }
        )
    )


@st.composite
def workflow_files(draw: st.DrawFn) -> Any:
    step = draw(either({"name": "run", "type": "policy", "timeout": draw(either("5m"))}))
    return draw(
        either(
            {
                "apiVersion": "innominatus.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "wf"},
                "parameters": draw(
                    either([{"name": "x", "type": "number", "default": draw(scalars)}])
                ),
                "steps": draw(either([step])),
                "outputs": draw(either({"o": "{{ .parameters.x }}"})),
            }
        )
    )


def dump(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True)


def load_everything(manifest: str, workflow: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "p"
        (root / "workflows").mkdir(parents=True)
        (root / "provider.yaml").write_text(manifest, encoding="utf-8", errors="surrogatepass")
        (root / "workflows" / "wf.yaml").write_text(
            workflow, encoding="utf-8", errors="surrogatepass"
        )
        provider_error = permanent_error_of(
            lambda: load_provider(root, known_step_types={"policy"})
        )
        set_error = permanent_error_of(
            lambda: load_provider_set([ProviderSourceSettings(name="p", path=root)])
        )
    assert provider_error is None or str(provider_error)
    assert set_error is None or (isinstance(set_error, ProviderSetError) and set_error.problems)


def permanent_error_of(call: Callable[[], object]) -> PermanentError | None:
    """The PermanentError ``call`` raised, or None; any other exception fails the test."""
    try:
        call()
    except PermanentError as exc:
        return exc
    return None


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(manifest=manifests(), workflow=workflow_files())
def test_structured_provider_files_load_or_raise_a_permanent_error(
    manifest: Any, workflow: Any
) -> None:
    load_everything(dump(manifest), dump(workflow))


@FUZZ
@given(manifest=st.text(max_size=200), workflow=st.text(max_size=200))
def test_arbitrary_text_loads_or_raises_a_permanent_error(manifest: str, workflow: str) -> None:
    load_everything(manifest, workflow)


@pytest.mark.parametrize(
    "text",
    ["a: " + "9" * 5000 + "\n", "a: " + "[" * 2000 + "]" * 2000 + "\n", "\ufeffkind: [\n"],
)
def test_pathological_yaml_is_an_input_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "provider.yaml").write_text(text)

    with pytest.raises(InputError):
        load_provider(tmp_path)
