"""Shared helpers for the webhook attacks: the receiver in-process (as the integration tests
run it), with server exceptions turned into answers so a crash shows up as a 500."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.testclient import TestClient

from tests.integration.api.hook_payloads import SECRET, body_of, signature, signed_headers
from tests.integration.api.test_webhooks import Harness

__all__ = ["SECRET", "Harness", "asgi_post", "body_of", "hub", "signature", "signed_headers"]


def hub(**kwargs: Any) -> Harness:
    h = Harness(**kwargs)
    h.client = TestClient(h.app, raise_server_exceptions=False)
    return h


def asgi_post(
    app: Any,
    path: str,
    chunks: list[bytes],
    headers: dict[str, str],
    client: tuple[str, int] = ("10.0.0.9", 4000),
) -> list[dict[str, Any]]:
    """POST ``chunks`` straight through ASGI (no client fixing up Content-Length)."""
    sent: list[dict[str, Any]] = []
    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": client,
        "server": ("127.0.0.1", 8082),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    return sent
