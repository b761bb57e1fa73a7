"""The OpenTelemetry :class:`~reconciler.engine.tracing.Tracer`: spans of the SDK's tracer
provider, exported over OTLP/HTTP (or to the console), W3C trace context for the steps.

Imported only when ``tracing.enabled`` (it needs the ``tracing`` extra). The provider is made
here and passed down, never set as OpenTelemetry's global one, so a process (or a test) can
hold several. An exception leaving a span marks it failed with the exception's type only:
its message may carry a value, and spans hold identifiers and masked errors alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from reconciler import __version__
from reconciler.engine.tracing import Attribute, Span
from reconciler.settings.tracing import TracingSettings

_PROPAGATOR = TraceContextTextMapPropagator()


class _OtelSpan:
    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, key: str, value: Attribute) -> None:
        if value is not None:
            self._span.set_attribute(key, value)

    def fail(self, message: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, message))


class OtelTracer:
    def __init__(self, tracer: trace.Tracer, *, provider: TracerProvider) -> None:
        self._tracer = tracer
        self.provider = provider
        """Flushed at exit by the SDK; :meth:`shutdown` flushes it sooner."""

    @contextmanager
    def trace(self, name: str, **attributes: Attribute) -> Iterator[Span]:
        with self._open(name, attributes, Context()) as span:  # an empty context: a new trace
            yield span

    @contextmanager
    def span(self, name: str, **attributes: Attribute) -> Iterator[Span]:
        with self._open(name, attributes, None) as span:
            yield span

    @contextmanager
    def _open(
        self, name: str, attributes: Mapping[str, Attribute], context: Context | None
    ) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            name,
            context=context,
            attributes={k: v for k, v in attributes.items() if v is not None},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield _OtelSpan(span)
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    def headers(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier

    def shutdown(self) -> None:
        self.provider.shutdown()


def exporting_tracer(
    settings: TracingSettings, *, exporter: SpanExporter | None = None
) -> OtelTracer:
    """A tracer exporting as ``settings`` say, or to ``exporter`` span by span (tests give the
    SDK's in-memory one)."""
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": settings.service_name, "service.version": __version__}
        )
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif settings.exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.endpoint))
        )
    return OtelTracer(provider.get_tracer("innominatus", __version__), provider=provider)
