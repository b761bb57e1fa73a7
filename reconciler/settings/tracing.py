"""OpenTelemetry tracing (``tracing:``): off by default; on, it needs the optional extra
``innominatus[tracing]`` (the OpenTelemetry SDK and its OTLP/HTTP exporter), and says so at
load when that is missing."""

from __future__ import annotations

import importlib.util
from typing import Literal

from pydantic import model_validator

from reconciler.settings.values import Group

TRACING_MODULES = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http")
"""What ``innominatus[tracing]`` installs and the tracer needs."""


def missing_tracing_modules() -> list[str]:
    """The modules of the ``tracing`` extra that cannot be imported here."""
    missing = []
    for module in TRACING_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            missing.append(module)
    return missing


class TracingSettings(Group):
    enabled: bool = False
    """Export one trace per repository sync and per app reconcile (spans for the sync, the
    plan, each execution and each step). Needs ``pip install 'innominatus[tracing]'``."""
    exporter: Literal["otlp", "console"] = "otlp"
    """``otlp``: OTLP over HTTP to ``endpoint``; ``console``: one JSON span per line on stdout
    (for trying it out)."""
    endpoint: str | None = None
    """OTLP/HTTP traces URL (``http://collector:4318/v1/traces``). Unset: the OpenTelemetry
    variables ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``, else
    ``http://localhost:4318/v1/traces``. Headers (a collector's token) come from
    ``OTEL_EXPORTER_OTLP_HEADERS``, never from this file."""
    service_name: str = "innominatus"
    """The ``service.name`` resource attribute of every span."""

    @model_validator(mode="after")
    def _installed(self) -> TracingSettings:
        missing = missing_tracing_modules() if self.enabled else []
        if missing:
            raise ValueError(
                "tracing.enabled: the OpenTelemetry SDK is not installed "
                f"({', '.join(missing)} missing); install innominatus[tracing] "
                "(pip install 'innominatus[tracing]') or set tracing.enabled: false"
            )
        return self
