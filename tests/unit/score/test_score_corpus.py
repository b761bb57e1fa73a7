"""Real Score files from ``../shared/corpus``: the valid ones load, the others say what to fix.

Valid files use more of Score than this loader checks in depth, and must still load: the
deprecated array forms of ``files`` and ``volumes`` (``spec/samples/score-deprecated-...``,
``score-go`` full sample, score-compose ``09-dns-and-route``), ``service.ports``, probes with
``httpGet`` and ``exec``, file ``source``/``content``/``binaryContent``, container
``resources`` limits, ``$$`` escapes in ``args`` and ``variables``, ``${resources.x}`` as a
volume source, dotted annotation prefixes, extra ``metadata`` keys, shared resource ``id``\\s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.score import load_workloads
from reconciler.score.order import creation_order
from reconciler.score.placeholders import resource_references
from tests.tools import missing

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
SCORE = CORPUS / "score"
ABSENT = f"{CORPUS} is absent (the shared corpus sits next to the repository)"


def _files(*patterns: str) -> list[object]:
    found = sorted({path for pattern in patterns for path in SCORE.glob(pattern)})
    if not found:
        return [pytest.param(None, id="absent")]  # a skip, a failure under CI=true
    return [pytest.param(path, id=str(path.relative_to(SCORE))) for path in found]


def _relative(path: Path) -> str:
    return str(path.relative_to(CORPUS))


VALID = _files(
    "spec/samples/*.yaml",
    "examples/**/*.yaml",
    "score-compose/examples/**/score*.yaml",
    "score-go/schema/files/samples/*.yaml",
)


@pytest.mark.parametrize("path", VALID)
def test_valid_score_file_loads(path: Path | None) -> None:
    if path is None:
        missing(ABSENT)
    workloads = load_workloads(path.read_bytes(), file=_relative(path))
    assert workloads
    for workload in workloads:
        assert workload.name == workload.spec["metadata"]["name"]
        assert workload.location.line is not None
        refs = {name: resource_references(spec.params) for name, spec in workload.resources.items()}
        assert sorted(creation_order(refs)) == sorted(workload.resources)


def test_full_sample_keeps_class_id_params_and_annotations() -> None:
    path = SCORE / "spec" / "samples" / "score-full.yaml"
    if not path.is_file():
        missing(ABSENT)
    [workload] = load_workloads(path.read_bytes(), file=_relative(path))
    one, two, three = (
        workload.resources[n] for n in ("resource-one1", "resource-two2", "resource-three")
    )
    assert (one.type, one.class_, one.params) == (
        "Resource-One",
        "default",
        {"extra": {"data": "here"}},
    )
    assert one.annotations["prefix.com/Another-Key_Annotation.2"] == "something else"
    assert (two.class_, two.id) == ("default", None)
    assert three.id == "shared-type-three"
    assert set(workload.containers) == {"container-one1", "container-two2"}


def test_route_is_created_after_the_dns_it_references() -> None:
    path = SCORE / "examples" / "resources" / "dns" / "score.yaml"
    if not path.is_file():
        missing(ABSENT)
    [workload] = load_workloads(path.read_bytes(), file=_relative(path))
    refs = {name: resource_references(spec.params) for name, spec in workload.resources.items()}
    assert refs == {"dns": set(), "route": {"dns"}}
    assert creation_order(refs) == ["dns", "route"]


UNMERGED = {
    "spec@pr-112-unmerged/samples/score-minimal.yaml": ":1:1: /containers: missing;",
    "spec@pr-112-unmerged/samples/score-with-extensions.yaml": (
        ":4:1: /x-my-extension: Score extensions (x-*) are not part of score.dev/v1b1"
    ),
}


@pytest.mark.parametrize(("name", "expected"), sorted(UNMERGED.items()))
def test_unmerged_proposal_samples_are_rejected(name: str, expected: str) -> None:
    path = SCORE / name
    if not path.is_file():
        missing(ABSENT)
    with pytest.raises(InputError) as caught:
        load_workloads(path.read_bytes(), file=_relative(path))
    assert _reports(caught.value, _relative(path) + expected)


ENV = "`env` is an innominatus field, not Score; use `variables`"
INNOMINATUS = {
    "examples/archive/resource-interpolation-workflow.yaml": (
        ":2:1: /apiVersion: 'orchestrator.innominatus.dev/v1' is not supported"
    ),
    "examples/archive/spec.yaml": ":10:1: /variables: `variables` is not a Score field",
    "examples/score-ecommerce-backend-v1.yaml": f":9:5: /containers/main/env: {ENV}",
    "examples/score-ecommerce-backend-v2.yaml": f":9:5: /containers/main/env: {ENV}",
    "examples/score-order-service-v1.yaml": f":9:5: /containers/main/env: {ENV}",
    "examples/score-order-service-v2.yaml": f":9:5: /containers/main/env: {ENV}",
    "examples/score-spec-k8s.yaml": ":34:1: /environment: `environment` is an innominatus field",
    "examples/score-test-graph.yaml": ":16:1: /environment: `environment` is an innominatus field",
    "providers/container-team/examples/score-container-with-database.yaml": (
        f":31:5: /containers/main/env: {ENV}"
    ),
    "providers/database-team/examples/score-postgres-app.yaml": (
        f":9:5: /containers/main/env: {ENV}"
    ),
    "testdata/score-spec-invalid.yaml": ":4:1: /metadata/name: missing;",
    "tests/e2e/fixtures/nginx-score.yaml": (
        ":18:5: /resources/app/properties: `properties` is an innominatus field, not Score; "
        "use `params`"
    ),
    "tests/e2e/fixtures/postgres-mock-app.yaml": f":7:5: /containers/backend/env: {ENV}",
}


@pytest.mark.parametrize(("name", "expected"), sorted(INNOMINATUS.items()))
def test_innominatus_score_file_is_rejected_naming_the_score_field(
    name: str, expected: str
) -> None:
    path = CORPUS / "innominatus" / name
    if not path.is_file():
        missing(ABSENT)
    with pytest.raises(InputError) as caught:
        load_workloads(path.read_bytes(), file=_relative(path))
    assert _reports(caught.value, _relative(path) + expected)


def test_every_innominatus_file_claiming_score_is_listed_above() -> None:
    root = CORPUS / "innominatus"
    if not root.is_dir():
        missing(ABSENT)
    claiming = {
        str(path.relative_to(root))
        for path in root.rglob("*.yaml")
        if "apiVersion: score.dev/v1b1" in path.read_text(encoding="utf-8")
    }
    assert claiming == set(INNOMINATUS)


def test_innominatus_file_with_env_fixed_then_asks_for_params() -> None:
    path = CORPUS / "innominatus" / "examples" / "score-ecommerce-backend-v1.yaml"
    if not path.is_file():
        missing(ABSENT)
    text = path.read_text(encoding="utf-8").replace("    env:", "    variables:")
    with pytest.raises(InputError) as caught:
        load_workloads(text, file=_relative(path))
    assert str(caught.value).endswith(
        ":22:5: /resources/db/properties: `properties` is an innominatus field, not Score; "
        "use `params`"
    )


def _reports(error: InputError, problem: str) -> bool:
    """Whether ``error`` (every problem of its file, one per line) reports ``problem``."""
    return any(line.startswith(problem) for line in str(error).splitlines())
