"""W3C trace context (traceparent) for Kafka headers."""

from __future__ import annotations

import re
import secrets

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def new_traceparent(trace_id: str | None = None) -> str:
    """A traceparent continuing `trace_id` (or a new trace) with a fresh span id."""
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def trace_id_of(traceparent: str | None) -> str | None:
    if not traceparent:
        return None
    found = _TRACEPARENT.match(traceparent)
    return found.group(1) if found else None
