"""The one envelope every Kafka topic and the event store carry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

#: Current schema_version per event type; filled by `event_types.register_event_type`.
CURRENT_SCHEMA_VERSIONS: dict[str, int] = {}


def new_id() -> str:
    """A fresh random identifier (uuid4, canonical text form)."""
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata shared by every event; `payload` holds the type-specific body.

    `correlation_id` names the turn an event belongs to; `causation_id` the event
    that caused this one. When `schema_version` is not given, it is the current
    version of the event type (see `somaagent.domain.event_types`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_.]*$")
    schema_version: int = Field(default=1, ge=1)
    session_id: str = Field(min_length=1, max_length=128)
    tenant_id: str = Field(min_length=1, max_length=128)
    persona_id: str = Field(default="default", min_length=1, max_length=128)
    correlation_id: str | None = Field(default=None, max_length=128)
    causation_id: str | None = Field(default=None, max_length=128)
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _current_version_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "schema_version" not in data:
            version = CURRENT_SCHEMA_VERSIONS.get(str(data.get("type")))
            if version is not None:
                return {**data, "schema_version": version}
        return data

    def caused(self, type_: str, payload: dict[str, Any], **changes: Any) -> Envelope:
        """A new event in the same session and turn, caused by this one."""
        fields: dict[str, Any] = {
            "type": type_,
            "session_id": self.session_id,
            "tenant_id": self.tenant_id,
            "persona_id": self.persona_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.event_id,
            "payload": payload,
        }
        fields.update(changes)
        return Envelope(**fields)
