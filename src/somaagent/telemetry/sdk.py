"""The OpenTelemetry SDK of one process: its resource (service.name), sampler and exporter.

Each process calls `setup_telemetry` once at start. The SDK is installed even when export
is off, so every log line and every Kafka record carries the trace and span ids of the
work it belongs to; with `SOMA_TELEMETRY__ENABLED=true` the spans are also batched to an
OTLP/HTTP receiver (http/protobuf, `<endpoint>/v1/traces`). The provider flushes at exit.
"""

from __future__ import annotations

from importlib.metadata import version as package_version

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from somaagent.settings import CommonSettings, TelemetrySettings
from somaagent.telemetry.logs import configure_json_logs

SERVICE_NAMESPACE = "somaagent"


def traces_url(settings: TelemetrySettings) -> str:
    return f"{settings.endpoint.rstrip('/')}/v1/traces"


def setup_telemetry(settings: TelemetrySettings, service_name: str) -> TracerProvider:
    """Install this process's tracer provider (once per process) named `service_name`."""
    resource = Resource.create(
        {
            "service.name": service_name,
            "service.namespace": SERVICE_NAMESPACE,
            "service.version": package_version("somaagent"),
        }
    )
    sampler = ParentBased(TraceIdRatioBased(settings.sample_ratio))
    provider = TracerProvider(resource=resource, sampler=sampler)
    if settings.enabled:
        exporter = OTLPSpanExporter(endpoint=traces_url(settings), timeout=settings.timeout_s)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def start_telemetry(settings: CommonSettings, service_name: str) -> TracerProvider:
    """What each process's main() calls first: JSON logs at its level, then its tracer."""
    configure_json_logs(settings.log_level)
    return setup_telemetry(settings.telemetry, service_name)
