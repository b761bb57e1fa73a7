"""Tracing of the engine's passes, behind a small protocol so OpenTelemetry stays optional.

One trace per pass: :meth:`Tracer.trace` opens a span that starts a new trace (a repository
sync, an app reconcile); :meth:`Tracer.span` opens a child of the current span (the plan, an
execution, a step). The current span travels with the asyncio task and with
``asyncio.to_thread``, so an execution started by a reconcile is a child of that reconcile's
span. :meth:`Tracer.headers` gives the W3C trace context of the current span, which the steps
pass on (``TRACEPARENT`` to a plugin, a ``traceparent`` header to an HTTP API).

Attributes are identifiers only (app, resource, workflow, execution, step); an error's text
reaches a span only after it was masked. :data:`NO_TRACING` does nothing (the default, and
what runs without the ``tracing`` extra); :func:`make_tracer` builds the OpenTelemetry one
(:mod:`reconciler.engine.otel`) when ``tracing.enabled``. Called by the engine, the app
reconciler and the step runner; built by the runtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from reconciler.settings.tracing import TracingSettings

Attribute = str | int | bool | None
"""A span attribute's value; None leaves the attribute out."""


class Span(Protocol):
    def set(self, key: str, value: Attribute) -> None:
        """Record ``key`` on the span (None: nothing)."""

    def fail(self, message: str) -> None:
        """Mark the span failed, with ``message`` (already masked) as its status."""


class Tracer(Protocol):
    def trace(self, name: str, **attributes: Attribute) -> AbstractContextManager[Span]:
        """A span that begins a trace of its own, whatever span is current."""

    def span(self, name: str, **attributes: Attribute) -> AbstractContextManager[Span]:
        """A child of the current span."""

    def headers(self) -> dict[str, str]:
        """The W3C trace context of the current span (``traceparent``, and ``tracestate``
        when there is one); empty when nothing is traced."""


class _NoSpan:
    def set(self, key: str, value: Attribute) -> None:
        pass

    def fail(self, message: str) -> None:
        pass


class _NoTracer:
    _SPAN = _NoSpan()

    @contextmanager
    def trace(self, name: str, **attributes: Attribute) -> Iterator[Span]:
        yield self._SPAN

    @contextmanager
    def span(self, name: str, **attributes: Attribute) -> Iterator[Span]:
        yield self._SPAN

    def headers(self) -> dict[str, str]:
        return {}


NO_TRACING: Tracer = _NoTracer()


def make_tracer(settings: TracingSettings) -> Tracer:
    """The tracer ``settings`` ask for: :data:`NO_TRACING` unless enabled (the settings refuse
    ``enabled`` without the extra, so the import below only runs where it is installed)."""
    if not settings.enabled:
        return NO_TRACING
    from reconciler.engine.otel import exporting_tracer

    return exporting_tracer(settings)
