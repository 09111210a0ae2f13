"""The gateway's Prometheus metrics (names as docs/operations.md lists them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    """One registry per app, so several gateways can live in one process (tests, bench)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "soma_gateway_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "soma_gateway_request_seconds",
            "HTTP request latency in seconds, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.messages_published = Counter(
            "soma_gateway_messages_published_total",
            "User messages produced to conversation.inbound.",
            registry=self.registry,
        )
        self.ws_connections = Gauge(
            "soma_gateway_ws_connections",
            "WebSocket streams currently open.",
            registry=self.registry,
        )
        self.ws_events_sent = Counter(
            "soma_gateway_ws_events_sent_total",
            "Outbound events written to WebSocket clients, by source (live or resume).",
            ["source"],
            registry=self.registry,
        )
        self.ws_overflows = Counter(
            "soma_gateway_ws_overflows_total",
            "WebSocket clients cut off because they fell too far behind (they resume by offset).",
            registry=self.registry,
        )
