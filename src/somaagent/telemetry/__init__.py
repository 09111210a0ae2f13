"""Traces and logs of every process: OpenTelemetry spans with W3C trace context across
HTTP and Kafka (`spans`), the per-process SDK and OTLP exporter (`sdk`: import it
from a process's main(), it loads the exporter), FastAPI's server
spans (`asgi`) and JSON log lines carrying the trace ids (`logs`)."""

from somaagent.telemetry.asgi import FASTAPI_TELEMETRY
from somaagent.telemetry.logs import configure_json_logs
from somaagent.telemetry.spans import (
    consuming,
    current_ids,
    extract,
    inject,
    mark_failed,
    outgoing,
    span,
)

__all__ = [
    "FASTAPI_TELEMETRY",
    "configure_json_logs",
    "consuming",
    "current_ids",
    "extract",
    "inject",
    "mark_failed",
    "outgoing",
    "span",
]
