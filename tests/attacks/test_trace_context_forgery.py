"""Attack: a provider's workflow sets its own trace context (``traceparent`` / ``tracestate``,
in any case, as a header of an ``http`` step or in a step's environment), to graft its
steps onto another trace or smuggle vendor state into the daemon's. With tracing on, a step
carries exactly its span's context: none of the workflow's own survives beside it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from reconciler.executors.base import StepRequest
from reconciler.executors.http import HttpExecutor
from reconciler.executors.process import step_environment
from tests.integration.engine.test_tracing import _request as step_request

CONTEXT = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
FORGED = "00-" + "f" * 32 + "-" + "e" * 16 + "-01"


def _request(tmp_path: Path, *, config: Mapping[str, Any], env: Mapping[str, str]) -> StepRequest:
    return step_request(tmp_path, config=config, trace_context=CONTEXT, env=env)


def test_an_http_step_sends_only_its_spans_context(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    headers = {"TraceParent": FORGED, "TraceState": "evil=1", "X-Other": "kept"}
    request = _request(
        tmp_path, config={"url": "https://api.example.com/x", "headers": headers}, env={}
    )
    result = asyncio.run(HttpExecutor(transport=httpx.MockTransport(answer)).run(request))
    assert result.status == "succeeded"
    (sent,) = seen
    assert sent.headers.get_list("traceparent") == [CONTEXT["traceparent"]]
    assert sent.headers.get_list("tracestate") == []
    assert sent.headers["x-other"] == "kept"


def test_an_exec_step_environment_holds_only_its_spans_context(tmp_path: Path) -> None:
    forged = {"traceparent": FORGED, "TraceParent": FORGED, "TRACESTATE": "evil=1", "OK": "1"}
    env = step_environment(_request(tmp_path, config={}, env=forged), outputs_file=tmp_path / "o")
    traced = {k: v for k, v in env.items() if k.lower() in ("traceparent", "tracestate")}
    assert traced == {"TRACEPARENT": CONTEXT["traceparent"]}
    assert env["OK"] == "1"
