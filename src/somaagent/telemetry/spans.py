"""Spans and W3C trace context over the OpenTelemetry API (no SDK needed here).

Every hop of a turn continues one trace: the gateway's HTTP span, each Kafka record (the
`traceparent` header, written by `inject` and read by `extract`), the policy client's call
and the engine's handling of it, the tool run and the model call. Without an SDK installed
(`telemetry.sdk.setup_telemetry`) these helpers cost next to nothing and record nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from somaagent.domain.constants import HEADER_TRACEPARENT

TRACER_NAME = "somaagent"
Attributes = Mapping[str, str | int | float | bool]


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def inject(headers: MutableMapping[str, str]) -> bool:
    """Write the current span's `traceparent` (and `tracestate`) into `headers`; False when
    no span is current (the caller then keeps or mints its own)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return False
    propagate.inject(headers)
    return True


def extract(headers: Mapping[str, str]) -> context.Context:
    """The context a record's or request's `traceparent` names (empty when it has none)."""
    return propagate.extract({k.lower(): v for k, v in headers.items()})


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as hex, for log lines."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
    parent: context.Context | None = None,
) -> Iterator[Span]:
    """A current span; an exception marks it as an error and propagates."""
    with tracer().start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes, record_exception=True
    ) as current:
        yield current


@contextmanager
def consuming(
    topic: str, partition: int, offset: int, headers: Mapping[str, str]
) -> Iterator[Span]:
    """The span of handling one Kafka record, a child of the span that published it."""
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset,
    }
    parent = extract(headers) if HEADER_TRACEPARENT in headers else None
    with span(
        f"process {topic}", kind=SpanKind.CONSUMER, attributes=attributes, parent=parent
    ) as s:
        yield s


def mark_failed(current: Span, reason: str) -> None:
    """Record a failure that is an answer, not an exception (a 5xx, a denied call)."""
    current.set_status(Status(StatusCode.ERROR, reason[:200]))


@contextmanager
def outgoing(name: str, attributes: Attributes) -> Iterator[tuple[Span, dict[str, str]]]:
    """A client span that is not made current, so it may stay open across the yields of a
    stream; yields it with the `traceparent` headers that name it. Ends on exit."""
    current = tracer().start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    headers: dict[str, str] = {}
    propagate.inject(headers, context=trace.set_span_in_context(current))
    try:
        yield current, headers
    except Exception as exc:
        current.record_exception(exc)
        mark_failed(current, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        current.end()
