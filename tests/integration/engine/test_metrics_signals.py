"""``/metrics`` signals of issue 15 on a real store (SQLite and PostgreSQL): apps by phase from
one grouped query, the client's process and platform metrics, and the event-stream client
gauge that the API moves as clients come and go."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.engine.metrics import PHASES, Metrics
from reconciler.store import AppDesired, Store, open_store

SPEC = {"path": "score.yaml", "resources": {}, "order": []}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.upgrade()
    s.repositories.register(name="apps", url="https://git.example.com/apps.git", branch="main")
    s.apps.save_desired(
        repository="apps",
        commit="c" * 40,
        apps=[AppDesired(name=n, path=f"{n}/score.yaml", desired=SPEC) for n in "abcd"],
    )
    for name, phase in (("a", "Ready"), ("b", "Ready"), ("c", "Failed")):
        s.apps.set_phase(name, phase=phase, reason="Test", message="")
    yield s
    s.close()


def samples(metrics: Metrics, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {
        tuple(sorted(sample.labels.items())): sample.value
        for metric in text_string_to_metric_families(metrics.exposition().decode())
        if metric.name == family
        for sample in metric.samples
    }
    assert found, f"{family} is not exported"
    return found


def test_apps_are_counted_by_phase_with_every_phase_exported(store: Store) -> None:
    metrics = Metrics(apps=store.apps.phase_counts)

    apps = samples(metrics, "innominatus_apps")

    assert apps == {
        (("phase", "Ready"),): 2.0,
        (("phase", "Failed"),): 1.0,
        (("phase", "Progressing"),): 1.0,  # d: saved, never reconciled
        (("phase", "Invalid"),): 0.0,
        (("phase", "Deleting"),): 0.0,
    }
    assert {labels[0][1] for labels in apps} == set(PHASES)


def test_apps_by_phase_follow_the_store_at_each_scrape(store: Store) -> None:
    metrics = Metrics(apps=store.apps.phase_counts)
    store.apps.set_phase("c", phase="Ready", reason="Test", message="")

    assert samples(metrics, "innominatus_apps")[(("phase", "Ready"),)] == 3.0
    assert samples(metrics, "innominatus_apps")[(("phase", "Failed"),)] == 0.0


def test_process_and_platform_metrics_are_on_the_engines_registry() -> None:
    metrics = Metrics()

    assert samples(metrics, "process_resident_memory_bytes")[()] > 0
    assert samples(metrics, "process_cpu_seconds")[()] > 0
    assert samples(metrics, "python_info")


def test_sse_clients_are_counted_while_connected_and_released_when_a_stream_fails() -> None:
    metrics = Metrics()
    assert samples(metrics, "innominatus_sse_clients")[()] == 0.0

    with metrics.sse_client(), metrics.sse_client():
        assert samples(metrics, "innominatus_sse_clients")[()] == 2.0
    with pytest.raises(ConnectionResetError), metrics.sse_client():
        raise ConnectionResetError("client went away")

    assert samples(metrics, "innominatus_sse_clients")[()] == 0.0
