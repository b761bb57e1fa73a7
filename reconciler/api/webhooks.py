"""The webhook receiver: ``POST /hooks/<provider>`` on a listener of its own (``webhooks.port``),
so the status API stays strictly read-only. Started by ``assembly.runtime.run_daemon``.

A hook only ever says "look at repository R": a verified push to a configured repository's
branch calls ``trigger(name)`` (the engine queues ``repo:<name>``; a key queued twice runs once;
:class:`Throttle` folds a burst into a leading and a trailing trigger, so a burst of pushes
costs at most two passes) and answers ``202`` at once; the pass reads Git itself. A push to a
provider repository asks for a provider reload. Anything else verified — another branch, a
tag, a ping, a pull request, an unknown repository — is answered ``200 {"ignored": ...}``.

In front of that, cheapest first: a per-source-address token bucket (429), the body read with a
byte limit (413, whatever ``Content-Length`` claims) and a deadline (408), the signature (401;
see :mod:`reconciler.api.hookevents`). Every answer is counted in
``innominatus_webhooks_total{provider,result}``. Logs name the configured repository and
branch only: never a secret, a signature or anything else from the body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio.to_thread
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reconciler.api.hookevents import (
    PROVIDERS,
    HookError,
    HookTargets,
    parse_push,
    verified_secrets,
)

logger = logging.getLogger(__name__)


RECORD_EVERY = 1.0
"""Seconds between two store writes of one repository's last-webhook time."""


class TokenBuckets:
    """Per-key token buckets: ``per_minute`` tokens, refilled evenly. Full buckets are
    forgotten once more than ``max_keys`` are kept, so a spray of addresses costs bounded
    memory."""

    def __init__(
        self,
        *,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> bool:
        """One token for ``key``; False when its bucket is empty (the request is refused)."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._forget_full(now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def _forget_full(self, now: float) -> None:
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self._rate >= self._capacity:
                del self._buckets[key]
        if len(self._buckets) >= self._max_keys:  # all busy: forget the oldest half
            for key in sorted(self._buckets, key=lambda k: self._buckets[k][1])[
                : self._max_keys // 2
            ]:
                del self._buckets[key]


class Throttle:
    """Leading-edge trigger, trailing-edge debounce, per key: the first hook triggers at once
    (no added latency); hooks after it are folded into one trigger once they have stopped for
    ``window`` seconds (at the latest ``max_delay`` after the first, so a steady stream still
    gets looked at), so the pass after the last push is never lost. With the engine's queue
    (a key queued twice runs once) a burst of any size costs at most two passes. Runs on the
    event loop."""

    def __init__(
        self, call: Callable[[str], None], *, window: float = 0.5, max_delay: float = 5.0
    ) -> None:
        self._call = call
        self._window = window
        self._max_delay = max_delay
        # key -> (time of the leading call, another call owed, the pending timer)
        self._open: dict[str, tuple[float, bool, asyncio.TimerHandle]] = {}

    def __call__(self, key: str) -> None:
        if self._window <= 0:
            self._call(key)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if key in self._open:
            first, _owed, timer = self._open[key]
            timer.cancel()
            delay = max(0.0, min(self._window, first + self._max_delay - now))
            self._open[key] = (first, True, loop.call_later(delay, self._close, key))
            return
        self._call(key)
        self._open[key] = (now, False, loop.call_later(self._window, self._close, key))

    def _close(self, key: str) -> None:
        _first, owed, _timer = self._open.pop(key)
        if owed:
            logger.info("webhooks for %s: the burst is folded into one more pass", key)
            self(key)


class WebhookMetrics:
    """``innominatus_webhooks_total{provider,result}`` on ``registry`` (the engine's, so one
    ``/metrics`` shows it)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.total = Counter(
            "innominatus_webhooks",
            "Webhook requests by provider and result (accepted, ignored, unauthorized, "
            "too_large, timeout, rate_limited, bad_request, not_found)",
            ["provider", "result"],
            registry=registry,
        )


@dataclass(frozen=True)
class WebhookReceiver:
    """What the receiver needs: the repositories it may trigger, the secrets (index = the
    ``Target.secret`` of each), and the callbacks into the daemon."""

    targets: HookTargets
    secrets: Sequence[str]
    trigger: Callable[[str], None]
    """Called on the event loop with a configured repository's name: queue a pass."""
    reload_providers: Callable[[], None] = lambda: None
    """Called when a provider repository was pushed to."""
    record: Callable[[str], None] | None = None
    """Records that a hook for the repository was accepted (a blocking store write: run in a
    thread after the answer went out)."""
    max_body: int = 1024 * 1024
    read_timeout: float = 10.0
    per_minute: int = 120
    coalesce_window: float = 0.5
    """Hooks for one repository after its trigger are folded into one more trigger once they
    have stopped for this many seconds (:class:`Throttle`); 0 turns the folding off."""
    metrics: WebhookMetrics = field(default_factory=WebhookMetrics)


def _answer(  # noqa: PLR0917 (one call per answer; positions read as a status line)
    receiver: WebhookReceiver,
    provider: str,
    result: str,
    status: int,
    body: dict[str, object],
    background: BackgroundTask | None = None,
) -> JSONResponse:
    receiver.metrics.total.labels(provider=provider, result=result).inc()
    return JSONResponse(body, status_code=status, background=background)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused past ``limit`` bytes while it arrives (a lying or missing
    ``Content-Length`` changes nothing)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_webhook_app(receiver: WebhookReceiver) -> Starlette:
    """The receiver's ASGI app (see the module's documentation)."""
    buckets = TokenBuckets(per_minute=receiver.per_minute)
    trigger = Throttle(receiver.trigger, window=receiver.coalesce_window)
    recorded: dict[str, float] = {}  # repository -> when its last hook was recorded

    def due(names: list[str]) -> list[str]:
        """The repositories whose hook time is worth a store write: at most one a second
        each, so a flood of hooks is not a flood of writes."""
        now = time.monotonic()
        fresh = [n for n in names if now - recorded.get(n, -RECORD_EVERY) >= RECORD_EVERY]
        recorded.update(dict.fromkeys(fresh, now))
        return fresh

    async def hook(request: Request) -> JSONResponse:
        provider = request.path_params["provider"]
        if provider not in PROVIDERS:
            return _answer(
                receiver, "unknown", "not_found", 404, {"error": f"no receiver for {provider!r}"}
            )
        client = request.client.host if request.client else "unknown"
        if not buckets.take(client):
            response = _answer(
                receiver, provider, "rate_limited", 429, {"error": "too many requests"}
            )
            response.headers["retry-after"] = str(max(1, round(60 / receiver.per_minute)))
            return response
        try:
            body = await asyncio.wait_for(
                _read_body(request, receiver.max_body), receiver.read_timeout
            )
        except _TooLarge:
            return _answer(
                receiver,
                provider,
                "too_large",
                413,
                {"error": f"the body is larger than {receiver.max_body} bytes"},
            )
        except TimeoutError:
            return _answer(
                receiver, provider, "timeout", 408, {"error": "the body took too long to arrive"}
            )
        except ClientDisconnect:
            return _answer(receiver, provider, "bad_request", 400, {"error": "disconnected"})
        headers = {k.lower(): v for k, v in request.headers.items()}
        signed_with = verified_secrets(provider, headers, body, receiver.secrets)
        if not signed_with:
            logger.info("webhook %s from %s refused: unsigned or badly signed", provider, client)
            return _answer(
                receiver, provider, "unauthorized", 401, {"error": "missing or bad signature"}
            )
        try:
            push = parse_push(provider, headers, body)
        except HookError as exc:
            return _answer(receiver, provider, "bad_request", 400, {"error": str(exc)})
        if push.kind == "other":
            return _ignored(receiver, provider, f"not a push event ({push.event[:40]})")
        named = receiver.targets.matching(push)
        if not named:
            return _ignored(receiver, provider, "no configured repository matches")
        matched = [t for t in named if t.secret in signed_with]
        if not matched:  # signed, but with another repository's secret
            logger.info("webhook %s from %s refused: signed with another secret", provider, client)
            return _answer(
                receiver, provider, "unauthorized", 401, {"error": "missing or bad signature"}
            )
        providers = [t for t in matched if t.branch is None]
        repositories = [
            t
            for t in matched
            if t.branch is not None and push.kind == "branch" and push.updates(t.branch)
        ]
        if not repositories and not providers:
            what = f"tag {push.tag}" if push.kind == "tag" else f"branch {push.branch}"
            return _ignored(receiver, provider, f"{what} is not followed"[:120])
        for target in repositories:
            logger.info(
                "webhook %s: push to %s (branch %s): pass triggered",
                provider,
                target.name,
                target.branch,
            )
            trigger(target.name)
        if providers:
            logger.info(
                "webhook %s: push to provider repository %s: reload wanted",
                provider,
                ", ".join(t.name for t in providers),
            )
            receiver.reload_providers()
        names = [t.name for t in repositories]
        record = due(names)
        return _answer(
            receiver,
            provider,
            "accepted",
            202,
            {"triggered": names, "providers": [t.name for t in providers]},
            background=BackgroundTask(_record, receiver, record) if record else None,
        )

    return Starlette(routes=[Route("/hooks/{provider}", hook, methods=["POST"])])


def _ignored(receiver: WebhookReceiver, provider: str, why: str) -> JSONResponse:
    return _answer(receiver, provider, "ignored", 200, {"ignored": why})


async def _record(receiver: WebhookReceiver, names: list[str]) -> None:
    if receiver.record is None:
        return
    for name in names:
        try:
            await anyio.to_thread.run_sync(receiver.record, name)
        except Exception as exc:  # the hook was answered; the time is a nicety
            logger.warning("could not record the webhook for %s: %s", name, exc)
