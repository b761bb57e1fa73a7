"""The http step's retry policy with httpx's MockTransport: Retry-After honoured and capped,
JSON fields picked by dotted paths, non-JSON answers named."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from reconciler.executors.base import StepRequest, StepResult
from reconciler.executors.http import MAX_DELAY, HttpExecutor, _delay


def call(tmp_path: Path, handler: Any, config: dict[str, Any]) -> StepResult:
    request = StepRequest(
        execution_id=1,
        app="shop",
        resource="dns",
        resource_uid="dns.default#shop.dns",
        operation="create",
        step_name="call",
        step_type="http",
        config={"url": "https://api.example.com/v1/zones", **config},
        params={},
        previous_outputs={},
        workdir=tmp_path,
        state_dir=tmp_path,
        provider_dir=tmp_path,
        timeout=10,
    )
    executor = HttpExecutor(transport=httpx.MockTransport(handler))
    return asyncio.run(executor.run(request))


def test_retry_after_is_honoured_and_capped() -> None:
    answer = httpx.Response(429, headers={"Retry-After": "2"})
    assert _delay(0, 1.0, answer) == 2.0
    assert _delay(0, 1.0, httpx.Response(503, headers={"Retry-After": "3600"})) == MAX_DELAY


def test_backoff_grows_with_jitter_and_stays_bounded() -> None:
    for attempt in range(12):
        delay = _delay(attempt, 1.0, None)
        assert 0.75 * min(MAX_DELAY, 2.0**attempt) <= delay <= min(MAX_DELAY, 1.25 * 2.0**attempt)


def test_a_429_is_retried(tmp_path: Path) -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json={})]
    result = call(tmp_path, lambda request: answers.pop(0), {"backoff": 0})
    assert result.status == "succeeded", result.error
    assert answers == []


def test_expected_status_overrides_the_2xx_rule(tmp_path: Path) -> None:
    result = call(
        tmp_path,
        lambda request: httpx.Response(404, json={"gone": True}),
        {"method": "DELETE", "expected_status": [200, 404]},
    )
    assert result.status == "succeeded", result.error


def test_outputs_that_need_a_json_answer_fail_on_text(tmp_path: Path) -> None:
    result = call(
        tmp_path, lambda request: httpx.Response(200, text="OK"), {"outputs": {"id": "id"}}
    )
    assert result.status == "failed"
    assert "the response is not JSON" in (result.error or "")


def test_a_missing_output_field_is_named(tmp_path: Path) -> None:
    result = call(
        tmp_path,
        lambda request: httpx.Response(200, json={"data": {}}),
        {"outputs": {"id": "data.id"}},
    )
    assert result.status == "failed"
    assert "the response has no field 'data.id' (output 'id')" in (result.error or "")


def test_credentials_in_the_url_stay_out_of_the_log(tmp_path: Path) -> None:
    result = call(
        tmp_path,
        lambda request: httpx.Response(200, json={}),
        {"url": "https://bot:pw-canary@api.example.com/v1?api_key=abc123secret"},
    )
    assert "abc123secret" not in result.log
    assert "pw-canary" not in result.log
    assert "POST https://api.example.com/v1 -> 200" in result.log
