"""OpenTelemetry tracing (issue 15), read back with the SDK's in-memory exporter: a reconcile of
a real repository (SQLite and PostgreSQL) is one trace per pass, with spans for the sync, the
plan, each execution and each step and their app/resource/workflow attributes; each step gets
its span's W3C context (an exec plugin in ``TRACEPARENT``, an HTTP API in ``traceparent``);
no secret reaches a span; and without the ``tracing`` extra, tracing is off and asking for it
is a configuration error that names the extra."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from reconciler.engine.otel import OtelTracer, exporting_tracer
from reconciler.errors import ConfigError
from reconciler.executors.base import LogSink, StepRequest, StepResult
from reconciler.executors.fake import FakeExecutor
from reconciler.executors.http import HttpExecutor
from reconciler.executors.process import step_environment
from reconciler.settings import load_settings
from reconciler.settings.tracing import TRACING_MODULES, TracingSettings
from tests.integration.engine.rig import make_rig

CANARY = "canary-trace-secret-93c1"


class _ByResource(FakeExecutor):
    """The database's step makes a password; the cache's step fails quoting its parameter
    (the password, through ``${resources.db.password}``)."""

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        self.requests.append(request)
        if request.resource == "db":
            outputs = {"host": "db.internal", "password": CANARY}
            return StepResult("succeeded", 0, outputs, "", 0, None)
        error = f"cannot reach cache with size {request.params['size']}"
        return StepResult("failed", 1, {}, error, 0, error)


@pytest.fixture
def traced() -> Iterator[tuple[OtelTracer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracer = exporting_tracer(TracingSettings(enabled=True), exporter=exporter)
    yield tracer, exporter
    tracer.shutdown()


def _by_id(spans: tuple[ReadableSpan, ...]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans}


def _parent(span: ReadableSpan, spans: Mapping[int, ReadableSpan]) -> ReadableSpan | None:
    return None if span.parent is None else spans[span.parent.span_id]


def _traceparent(span: ReadableSpan) -> str:
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def test_a_reconcile_is_one_trace_per_pass_with_spans_for_sync_plan_executions_and_steps(
    tmp_path: Path, database_url: str, traced: tuple[OtelTracer, InMemorySpanExporter]
) -> None:
    tracer, exporter = traced
    fake = _ByResource()
    with make_rig(tmp_path, database_url) as rig:
        rig.commit(
            "  db: {type: fakedb, params: {size: '1'}}\n"
            "  cache: {type: fakecache, params: {size: '${resources.db.password}'}}\n"
        )
        rig.run(fake, tracer=tracer)
        head = rig.store.apps.get("shop")
        assert head is not None
        assert head.commit is not None
    spans = exporter.get_finished_spans()
    by_id = _by_id(spans)
    named = {name: [s for s in spans if s.name == name] for name in {s.name for s in spans}}

    (sync,) = named["sync"]
    assert sync.parent is None
    assert sync.attributes == {
        "innominatus.repository": "apps",
        "innominatus.commit": head.commit,
        "innominatus.sync.changed_apps": 1,
    }
    reconciles = named["reconcile"]
    assert reconciles
    assert all(s.parent is None for s in reconciles)
    assert all(s.attributes["innominatus.app"] == "shop" for s in reconciles)
    traces = [s.context.trace_id for s in [sync, *reconciles]]
    assert len(set(traces)) == len(traces), "each pass is a trace of its own"
    for plan in named["plan"]:
        assert _parent(plan, by_id) in reconciles
        assert plan.attributes["innominatus.app"] == "shop"

    executions = {s.attributes["innominatus.resource.uid"]: s for s in named["execution"]}
    assert set(executions) == {"fakedb.default#shop.db", "fakecache.default#shop.cache"}
    db = executions["fakedb.default#shop.db"]
    assert _parent(db, by_id) in reconciles
    assert {k: v for k, v in db.attributes.items() if k != "innominatus.execution.id"} == {
        "innominatus.app": "shop",
        "innominatus.resource.uid": "fakedb.default#shop.db",
        "innominatus.resource.name": "db",
        "innominatus.resource.type": "fakedb",
        "innominatus.resource.class": "default",
        "innominatus.operation": "create",
        "innominatus.provider": "fakes",
        "innominatus.workflow": "make",
        "innominatus.execution.attempt": 1,
        "innominatus.execution.outcome": "succeeded",
    }
    assert db.status.is_ok
    cache = executions["fakecache.default#shop.cache"]
    assert cache.attributes["innominatus.execution.outcome"] == "failed"
    assert not cache.status.is_ok
    assert "step 'make' failed" in (cache.status.description or "")

    steps = named["step"]
    assert [getattr(_parent(s, by_id), "name", None) for s in steps] == ["execution"] * 2
    for step in steps:
        assert step.attributes["innominatus.step.name"] == "make"
        assert step.attributes["innominatus.step.type"] == "fake"
        # The step was handed its own span's context, to pass on.
        execution = _parent(step, by_id)
        (request,) = [r for r in fake.requests if execution is executions[r.resource_uid]]
        assert request.trace_context == {"traceparent": _traceparent(step)}


def test_no_secret_reaches_any_span(
    tmp_path: Path, database_url: str, traced: tuple[OtelTracer, InMemorySpanExporter]
) -> None:
    tracer, exporter = traced
    fake = _ByResource()
    with make_rig(tmp_path, database_url) as rig:
        rig.commit(
            "  db: {type: fakedb, params: {size: '1'}}\n"
            "  cache: {type: fakecache, params: {size: '${resources.db.password}'}}\n"
        )
        rig.run(fake, tracer=tracer)
    spans = exporter.get_finished_spans()
    # The canary was there to leak: the cache's step got it and failed quoting it.
    assert any(CANARY in str(r.params) for r in fake.requests)
    assert {s.name for s in spans} >= {"sync", "reconcile", "plan", "execution", "step"}
    for span in spans:
        assert CANARY not in span.to_json(), span.name


def test_an_http_step_sends_its_spans_traceparent(
    tmp_path: Path, traced: tuple[OtelTracer, InMemorySpanExporter]
) -> None:
    tracer, exporter = traced
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "42"})

    async def step() -> StepResult:
        with tracer.span("step"):
            request = _request(
                tmp_path,
                config={"url": "https://api.example.com/things", "headers": {"traceparent": "x"}},
                trace_context=tracer.headers(),
            )
            return await HttpExecutor(transport=httpx.MockTransport(answer)).run(request)

    assert asyncio.run(step()).status == "succeeded"
    (span,) = exporter.get_finished_spans()
    (sent,) = seen
    assert sent.headers.get_list("traceparent") == [_traceparent(span)]


def test_an_exec_plugin_gets_the_step_context_in_traceparent(tmp_path: Path) -> None:
    context = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "tracestate": "k=v"}
    request = _request(tmp_path, config={}, trace_context=context, env={"TRACEPARENT": "forged"})

    env = step_environment(request, outputs_file=tmp_path / "outputs")

    assert env["TRACEPARENT"] == context["traceparent"]
    assert env["TRACESTATE"] == "k=v"
    assert "TRACEPARENT" not in step_environment(
        _request(tmp_path, config={}, trace_context={}), outputs_file=tmp_path / "outputs"
    )


def _request(
    tmp_path: Path,
    *,
    config: Mapping[str, Any],
    trace_context: Mapping[str, str],
    env: Mapping[str, str] | None = None,
) -> StepRequest:
    return StepRequest(
        execution_id=1,
        app="shop",
        resource="db",
        resource_uid="postgres.default#shop.db",
        operation="create",
        step_name="call",
        step_type="http",
        config=config,
        params={},
        previous_outputs={},
        workdir=tmp_path,
        state_dir=tmp_path,
        provider_dir=tmp_path,
        timeout=10.0,
        env=env or {},
        trace_context=trace_context,
    )


def test_enabling_tracing_without_the_extra_is_a_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in TRACING_MODULES:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    config = tmp_path / "innominatus.yaml"
    config.write_text("tracing:\n  enabled: true\n")

    with pytest.raises(ConfigError, match=r"install innominatus\[tracing\]"):
        load_settings(config)
    assert load_settings(None).tracing.enabled is False


def test_without_the_extra_the_engine_runs_untraced() -> None:
    script = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"  # no OpenTelemetry at all
        "from reconciler.assembly import runtime\n"
        "from reconciler.engine.tracing import NO_TRACING, make_tracer\n"
        "from reconciler.settings import Settings\n"
        "assert make_tracer(Settings().tracing) is NO_TRACING\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["opentelemetry"]  # only the blocked entry
