"""Upcasting: read events written under an older schema_version.

An upcaster turns the payload of version N of one event type into version N + 1; reading
applies them in a chain up to the type's current version. Stored events are never
rewritten: old rows stay as they were written and are upcast on every read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from somaagent.domain.errors import SchemaVersionError
from somaagent.domain.event_types import MESSAGE_RECEIVED, event_type

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(type_: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator: register the step from `from_version` to `from_version + 1`."""

    def decorate(fn: Upcaster) -> Upcaster:
        key = (type_, from_version)
        if key in UPCASTERS:
            raise ValueError(f"an upcaster for {type_} v{from_version} already exists")
        UPCASTERS[key] = fn
        return fn

    return decorate


def upcast(type_: str, version: int, payload: Payload) -> tuple[int, Payload]:
    """The payload raised to the current version of its type, with that version."""
    current = event_type(type_).version
    if version > current:
        raise SchemaVersionError(
            "schema_version", f"{type_} v{version} is newer than this code reads (v{current})"
        )
    while version < current:
        step = UPCASTERS.get((type_, version))
        if step is None:
            raise SchemaVersionError(
                "schema_version", f"no upcaster from {type_} v{version} to v{version + 1}"
            )
        payload = step(payload)
        version += 1
    return version, payload


@register_upcaster(MESSAGE_RECEIVED, 1)
def _message_received_v1_to_v2(payload: Payload) -> Payload:
    """v1 carried the user's text as `content` and had no attachments."""
    upgraded = {k: v for k, v in payload.items() if k != "content"}
    upgraded["text"] = payload.get("content", payload.get("text", ""))
    upgraded.setdefault("attachments", [])
    return upgraded
