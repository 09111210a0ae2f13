"""JSON log lines for every platform process, with the trace they belong to.

One line per event on stdout: `event`, `level`, `timestamp`, what the code bound
(`tenant_id`, `persona_id`, `session_id`, `correlation_id`, ...) and, while a span is
current, its `trace_id` and `span_id`. Standard-library loggers (uvicorn, aiokafka) are
rendered the same way. Fields that would carry what a user typed or a credential are never
written, whatever a call site passes (`PRIVATE_FIELDS`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.typing import Processor

from somaagent.telemetry.spans import current_ids

#: Keys whose value is a user's words or a secret: dropped to a marker before rendering.
PRIVATE_FIELDS = frozenset(
    {"text", "prompt", "content", "messages", "api_key", "key", "authorization", "password"}
)
REDACTED = "[not logged]"


def add_trace_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """trace_id and span_id of the current span (the W3C ids the Kafka headers carry)."""
    ids = current_ids()
    if ids is not None:
        event["trace_id"], event["span_id"] = ids
    return event


def drop_private(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name in PRIVATE_FIELDS.intersection(event):
        event[name] = REDACTED
    return event


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        drop_private,
    ]


def configure_json_logs(level: str) -> None:
    """Structlog and the standard library's loggers as JSON lines on stdout at `level`."""
    threshold = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            *_shared(),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(threshold)
