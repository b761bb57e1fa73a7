"""The ``http`` step: one HTTP call to an outside API, its JSON answer as outputs.

Config (already rendered): ``url`` (http or https; scheme and host fixed when the workflow
loaded, each value percent-encoded as one component by :mod:`reconciler.providers.urls`),
``method`` (default ``POST``, or
``DELETE`` for the resource's delete operation), ``headers`` (string values), ``body`` (any
JSON value, sent as JSON — a parameter inside it stays one JSON string), ``outputs``
(``{output: "dotted.path"}`` into the response; default: every top-level field of a JSON
object response), ``expected_status`` (list of codes; default any 2xx), ``retries`` (default
3, at most 10) and ``backoff`` (first delay in seconds, default 1).

Connection errors, 5xx and 429 answers are retried with jittered exponential backoff (capped
at 30 s, ``Retry-After`` honoured up to that cap), within the step's timeout; other answers are
final. Outbound HTTP happens only here (ARCHITECTURE §3 rule 3). Called by the engine's runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from reconciler.backoff import Backoff
from reconciler.executors import checks
from reconciler.executors.base import TRACE_KEYS, LogSink, StepRequest, StepResult
from reconciler.executors.logbuffer import LogBuffer
from reconciler.executors.results import Deadline, failed, invalid, succeeded, timed_out

STEP = "http"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
MAX_RETRIES, MAX_DELAY = 10, 30.0
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
_FINAL = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)
"""Transport errors of our own making (a header value with a newline): retrying cannot help."""
ATTEMPT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def _number(config: Mapping[str, Any], key: str, default: float, *, upper: float) -> float:
    """``config[key]`` as a number; rendered templates give text, so "3" counts as 3."""
    value = config.get(key, default)
    if checks.is_template(value):
        return default
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= upper:
        raise ValueError(f"`config.{key}` of an {STEP} step must be a number from 0 to {upper:g}")
    return float(value)


def _pick(document: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(document, Mapping) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            raise KeyError(path)
    return document


def _shown(url: str) -> str:
    """The URL for the log: no userinfo, query or fragment (where credentials tend to sit)."""
    split = urlsplit(url)
    return urlunsplit((split.scheme, split.netloc.rpartition("@")[2], split.path, "", ""))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _delay(attempt: int, first: float, response: httpx.Response | None) -> float:
    """Seconds before retry ``attempt + 1`` (``attempt`` from 0): ``Retry-After`` when the
    answer has one, else the one backoff primitive (±25 % jitter), both capped."""
    retry_after = str(response.headers.get("retry-after", "")) if response is not None else ""
    if retry_after.isdigit():
        return min(MAX_DELAY, float(retry_after))
    return Backoff(first=first, cap=MAX_DELAY, jitter=0.25).delay(attempt + 1)


class HttpExecutor:
    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport

    @staticmethod
    def validate(config: Mapping[str, Any]) -> None:
        url = checks.text(config, "url", step=STEP, required=True)
        if url is not None and not checks.is_template(url):
            scheme = url.partition("://")[0].lower()
            if scheme not in ("http", "https"):
                raise ValueError(f"`config.url` of an {STEP} step must be http(s); got {url!r}")
        method = checks.text(config, "method", step=STEP)
        if method is not None and not checks.is_template(method) and method.upper() not in METHODS:
            raise ValueError(f"`config.method` of an {STEP} step must be one of {METHODS}")
        headers = checks.mapping(config, "headers", step=STEP)
        if not all(isinstance(value, str) for value in headers.values()):
            raise ValueError(f"`config.headers` of an {STEP} step must map names to strings")
        outputs = checks.mapping(config, "outputs", step=STEP)
        if not all(isinstance(value, str) for value in outputs.values()):
            raise ValueError(f"`config.outputs` of an {STEP} step maps names to dotted paths")
        expected = config.get("expected_status", [])
        if not isinstance(expected, list) or not all(isinstance(c, int) for c in expected):
            raise ValueError(f"`config.expected_status` of an {STEP} step is a list of codes")
        _number(config, "retries", 3, upper=MAX_RETRIES)
        _number(config, "backoff", 1.0, upper=MAX_DELAY)

    async def run(
        self, request: StepRequest, *, on_log: LogSink | None = None, log_limit: int = 65536
    ) -> StepResult:
        log = LogBuffer(limit=log_limit, secrets=request.secrets, sink=on_log)
        config = request.config
        try:
            self.validate(config)
        except ValueError as exc:
            return invalid(log, exc)
        deadline = Deadline(request.timeout)
        try:
            async with asyncio.timeout(deadline.remaining()):
                response = await self._call(config, request, log)
        except TimeoutError:
            return timed_out(log, deadline.timeout)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            return failed(log, f"HTTP request failed: {type(exc).__name__}: {exc}")
        expected = config.get("expected_status") or []
        good = response.status_code in expected if expected else response.is_success
        if not good:
            log.write(response.text[:2000] + "\n")
            return failed(log, f"HTTP {response.status_code} {response.reason_phrase}")
        return self._outputs(config, response, log)

    async def _call(
        self, config: Mapping[str, Any], request: StepRequest, log: LogBuffer
    ) -> httpx.Response:
        default = "DELETE" if request.operation == "delete" else "POST"
        method = str(config.get("method") or default).upper()
        url: str = config["url"]
        shown = _shown(url)
        retries = int(_number(config, "retries", 3, upper=MAX_RETRIES))
        first = _number(config, "backoff", 1.0, upper=MAX_DELAY)
        body = {"json": config["body"]} if "body" in config else {}
        # The step's trace context (W3C) puts the API's work in the step's trace; it replaces
        # any trace header the workflow set (a forged ``tracestate`` too, though the context
        # has none), as for an exec plugin's environment.
        headers = {
            name: value
            for name, value in dict(config.get("headers") or {}).items()
            if not (request.trace_context and name.lower() in TRACE_KEYS)
        } | dict(request.trace_context)
        async with httpx.AsyncClient(
            transport=self._transport, trust_env=False, timeout=ATTEMPT_TIMEOUT
        ) as client:
            attempt = 0
            while True:
                began = time.monotonic()
                response: httpx.Response | None = None
                try:
                    response = await client.request(method, url, headers=headers, **body)
                except _FINAL:
                    raise
                except httpx.TransportError as exc:
                    log.write(f"{method} {shown}: {type(exc).__name__}: {exc}\n")
                    if attempt == retries:
                        raise
                else:
                    took = time.monotonic() - began
                    log.write(f"{method} {shown} -> {response.status_code} ({took:.3f}s)\n")
                    if response.status_code not in _RETRIED_STATUS or attempt == retries:
                        return response
                delay = _delay(attempt, first, response)
                attempt += 1
                log.write(f"retrying in {delay:.2f}s (attempt {attempt + 1} of {retries + 1})\n")
                await asyncio.sleep(delay)

    @staticmethod
    def _outputs(config: Mapping[str, Any], response: httpx.Response, log: LogBuffer) -> StepResult:
        wanted = checks.mapping(config, "outputs", step=STEP)
        try:
            document = response.json() if response.content else None
        except ValueError:
            document = None
        if document is None and wanted:
            return failed(log, "the response is not JSON, so `config.outputs` cannot be read")
        if not wanted:
            fields = document if isinstance(document, Mapping) else {}
            return succeeded(log, {str(k): _text(v) for k, v in fields.items()})
        outputs: dict[str, str] = {}
        for name, path in wanted.items():
            try:
                outputs[name] = _text(_pick(document, path))
            except KeyError:
                return failed(log, f"the response has no field {path!r} (output {name!r})")
        return succeeded(log, outputs)
