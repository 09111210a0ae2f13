"""Exact JSON for envelopes, typed payloads, and pydantic errors as domain errors.

`envelope_from_json(envelope_to_json(e)) == e` for every valid envelope: ids, aware
timestamps (the offset is kept), unicode and large payloads survive unchanged. Reading
upcasts an older schema_version and validates the payload against its registered type.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

from somaagent.domain.errors import ValidationError
from somaagent.domain.event_types import event_type
from somaagent.domain.events import Envelope
from somaagent.domain.upcasting import upcast

M = TypeVar("M", bound=pydantic.BaseModel)


def field_error(exc: pydantic.ValidationError, prefix: str = "") -> ValidationError:
    """The first pydantic error as a domain ValidationError naming the field path."""
    errors = exc.errors(include_url=False)
    if not errors:
        return ValidationError(prefix or exc.title, "invalid")
    first = errors[0]
    path = ".".join(str(part) for part in first["loc"])
    field = ".".join(p for p in (prefix, path) if p) or exc.title
    reason = first["msg"]
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more)"
    return ValidationError(field, reason)


def envelope_to_json(envelope: Envelope) -> bytes:
    """The envelope as compact UTF-8 JSON."""
    return envelope.model_dump_json().encode()


def envelope_from_json(data: bytes | str) -> Envelope:
    """Parse, upcast to the current version and validate the payload of one event."""
    try:
        raw = Envelope.model_validate_json(data)
    except pydantic.ValidationError as exc:
        raise field_error(exc) from exc
    return validate_envelope(raw)


def envelope_from_dict(data: dict[str, Any]) -> Envelope:
    """Like `envelope_from_json` for an already decoded object."""
    try:
        raw = Envelope.model_validate(data)
    except pydantic.ValidationError as exc:
        raise field_error(exc) from exc
    return validate_envelope(raw)


def validate_envelope(envelope: Envelope) -> Envelope:
    """The envelope at its type's current version, its payload checked against the type."""
    version, payload = upcast(envelope.type, envelope.schema_version, envelope.payload)
    if version != envelope.schema_version:
        envelope = envelope.model_copy(update={"schema_version": version, "payload": payload})
    parse_payload(envelope)
    return envelope


def parse_payload(envelope: Envelope) -> pydantic.BaseModel:
    """The typed payload of a current-version envelope of a registered type."""
    model = event_type(envelope.type).payload
    try:
        return model.model_validate(envelope.payload)
    except pydantic.ValidationError as exc:
        raise field_error(exc, "payload") from exc


def payload_as(envelope: Envelope, model: type[M]) -> M:
    """The typed payload, checked to be of `model` (for code that knows the type)."""
    parsed = parse_payload(envelope)
    if not isinstance(parsed, model):
        raise ValidationError("type", f"{envelope.type} does not carry {model.__name__}")
    return parsed


def validate_model(model: type[M], data: Any, prefix: str = "") -> M:
    """Validate any domain model, raising a domain ValidationError naming the field."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise field_error(exc, prefix) from exc
