"""The http step against a real local HTTP server (``http.server`` in a thread): JSON body and
headers sent as configured, JSON answer fields as outputs, 5xx and connection errors retried
with bounded backoff, other answers final."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

from reconciler.executors.http import HttpExecutor
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import Api, free_port, run, serve


def test_json_answer_fields_become_outputs(api: Api, make_request: MakeRequest) -> None:
    api.answers = [(201, {"id": "dns-42", "ttl": 300, "records": ["a", "b"]})]
    config = {
        "url": f"{api.url}/zones/shop",
        "headers": {"Authorization": "Bearer t0k3n", "X-Team": "shop"},
        "body": {"name": "shop.example.com", "ttl": 300, "tags": {"team": "shop"}},
    }
    result = run(HttpExecutor(), make_request("http", config))
    assert result.status == "succeeded", result.error
    assert result.outputs == {"id": "dns-42", "ttl": "300", "records": '["a", "b"]'}
    [received] = api.received
    assert received.method == "POST"
    assert received.path == "/zones/shop"
    assert received.headers["Authorization"] == "Bearer t0k3n"
    assert received.headers["Content-Type"] == "application/json"
    assert json.loads(received.body) == config["body"]
    assert "t0k3n" not in result.log


def test_configured_outputs_pick_nested_fields(api: Api, make_request: MakeRequest) -> None:
    api.answers = [(200, {"data": {"record": {"fqdn": "shop.example.com"}, "ids": [7, 8]}})]
    config = {
        "url": api.url,
        "method": "GET",
        "outputs": {"fqdn": "data.record.fqdn", "first": "data.ids.0"},
    }
    result = run(HttpExecutor(), make_request("http", config))
    assert result.outputs == {"fqdn": "shop.example.com", "first": "7"}
    assert api.received[0].method == "GET"


def test_server_errors_are_retried_with_backoff_until_an_answer(
    api: Api, make_request: MakeRequest
) -> None:
    api.answers = [(503, {}), (502, {}), (201, {"id": "x"})]
    config = {"url": api.url, "body": {"a": 1}, "retries": 3, "backoff": 0.01}
    result = run(HttpExecutor(), make_request("http", config))
    assert result.status == "succeeded", result.error
    assert result.outputs == {"id": "x"}
    assert len(api.received) == 3
    assert result.log.count("retrying in") == 2


def test_retries_are_bounded(api: Api, make_request: MakeRequest) -> None:
    api.answers = [(500, {"error": "boom"})] * 5
    config = {"url": api.url, "retries": 2, "backoff": 0.01}
    result = run(HttpExecutor(), make_request("http", config))
    assert result.status == "failed"
    assert (result.error or "").startswith("HTTP 500 Internal Server Error")
    assert len(api.received) == 3


def test_a_client_error_is_final_and_not_retried(api: Api, make_request: MakeRequest) -> None:
    api.answers = [(409, {"error": "zone exists"})]
    result = run(HttpExecutor(), make_request("http", {"url": api.url, "backoff": 0.01}))
    assert result.status == "failed"
    assert "HTTP 409 Conflict" in (result.error or "")
    assert "zone exists" in (result.error or "")
    assert len(api.received) == 1


def test_connection_errors_are_retried_until_the_server_answers(
    make_request: MakeRequest,
) -> None:
    port = free_port()
    api = Api(url=f"http://127.0.0.1:{port}", answers=[(200, {"up": True})])
    servers: list[ThreadingHTTPServer] = []
    later = threading.Timer(0.3, lambda: servers.append(serve(api, port)))
    later.start()
    try:
        config = {"url": api.url, "method": "GET", "retries": 10, "backoff": 0.1}
        result = run(HttpExecutor(), make_request("http", config))
    finally:
        later.join()
        for server in servers:
            server.shutdown()
            server.server_close()
    assert result.status == "succeeded", result.error
    assert result.outputs == {"up": "true"}
    assert "ConnectError" in result.log


def test_the_delete_operation_sends_delete_by_default(api: Api, make_request: MakeRequest) -> None:
    result = run(HttpExecutor(), make_request("http", {"url": api.url}, operation="delete"))
    assert result.status == "succeeded", result.error
    assert api.received[0].method == "DELETE"


def test_a_slow_server_times_the_step_out(api: Api, make_request: MakeRequest) -> None:
    api.delay = 2.0
    result = run(HttpExecutor(), make_request("http", {"url": api.url}, timeout=0.3))
    assert result.status == "timed_out"
