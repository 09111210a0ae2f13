"""How FastAPI's own OpenTelemetry server spans are set up for our apps.

FastAPI (0.16x) opens a server span for each request and WebSocket when a tracer provider
is installed, continuing the caller's `traceparent` and naming the span after the route
template (`POST /v1/sessions/{session_id}/messages`). Pass `FASTAPI_TELEMETRY` as
`FastAPI(telemetry=...)`: probes and scrapes are not traced, per-dependency spans are off
(a turn's trace stays readable), and FastAPI sends no OpenTelemetry logs (its validation
records would carry the request's input) or metrics (Prometheus has ours).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi.telemetry import TelemetryConfig

#: Probes and scrapes: frequent, and no part of a turn.
UNTRACED = ("/healthz", "/metrics")


def untraced(scope: MutableMapping[str, Any]) -> bool:
    return str(scope.get("path", "")).startswith(UNTRACED)


FASTAPI_TELEMETRY: TelemetryConfig = {
    "exclude": untraced,
    "operation_spans": False,
    "logs": False,
    "metrics": False,
}
