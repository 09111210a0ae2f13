"""Envelope JSON round-trips exactly; bad input names the field; old versions upcast."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from somaagent.domain.errors import SchemaVersionError, ValidationError
from somaagent.domain.event_types import (
    EVENT_TYPES,
    MESSAGE_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    make_event,
)
from somaagent.domain.events import Envelope
from somaagent.domain.serialization import (
    envelope_from_dict,
    envelope_from_json,
    envelope_to_json,
    payload_as,
    validate_model,
)
from somaagent.domain.tools import ToolCall
from somaagent.domain.turns import ConversationTurn, Usage


def _turn() -> ConversationTurn:
    call = ToolCall(
        tool="code_execution",
        arguments={"code": "print('ü')"},
        session_id="s-1",
        tenant_id="t-1",
        correlation_id="c-1",
    )
    return ConversationTurn(
        correlation_id="c-1",
        session_id="s-1",
        tenant_id="t-1",
        user_message="Grüße 👋 — 日本語?",
        assistant_message="x" * 300_000,
        usage=Usage(prompt_tokens=12, completion_tokens=3),
        ttft_s=0.125,
        slm={"intent": "greet", "scores": [0.1, 1e-300, 12345678901234567890]},
        tool_calls=[call],
        started_at=datetime(
            2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5, minutes=30))
        ),
    )


def test_round_trip_is_exact_for_ids_zones_unicode_and_large_payloads() -> None:
    turn = _turn()
    event = make_event(
        TURN_COMPLETED,
        turn,
        session_id="s-1",
        tenant_id="t-1",
        correlation_id="c-1",
        occurred_at=datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=-3))),
    )
    data = envelope_to_json(event)
    back = envelope_from_json(data)
    assert back == event
    assert back.occurred_at.utcoffset() == timedelta(hours=-3)
    assert envelope_to_json(back) == data
    again = payload_as(back, ConversationTurn)
    assert again == turn
    assert again.started_at.utcoffset() == timedelta(hours=5, minutes=30)
    assert again.slm["scores"][2] == 12345678901234567890


def test_default_schema_version_is_the_types_current_one() -> None:
    event = Envelope(type=MESSAGE_RECEIVED, session_id="s", tenant_id="t", payload={"text": "hi"})
    assert event.schema_version == EVENT_TYPES[MESSAGE_RECEIVED].version == 2


def test_version_1_message_is_upcast_on_read() -> None:
    old = {
        "type": MESSAGE_RECEIVED,
        "schema_version": 1,
        "session_id": "s",
        "tenant_id": "t",
        "occurred_at": "2025-12-31T23:59:59+01:00",
        "payload": {"content": "hello from v1"},
    }
    event = envelope_from_dict(old)
    assert event.schema_version == 2
    assert payload_as(event, MessageReceived) == MessageReceived(text="hello from v1")


def test_newer_version_than_the_code_reads_is_refused() -> None:
    raw = Envelope(type=TURN_COMPLETED, schema_version=7, session_id="s", tenant_id="t", payload={})
    with pytest.raises(SchemaVersionError) as err:
        envelope_from_json(envelope_to_json(raw))
    assert err.value.field == "schema_version"
    assert "v7" in err.value.reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"session_id": ""}, "session_id"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "occurred_at"),
        ({"type": "Not A Type"}, "type"),
        ({"payload": {"text": ""}}, "payload.text"),
        (
            {"payload": {"text": "hi", "attachments": [{"name": "a", "sha256": "zz", "size": 1}]}},
            "payload.attachments.0.sha256",
        ),
        ({"payload": {"text": "hi", "colour": "red"}}, "payload.colour"),
    ],
)
def test_validation_errors_name_the_field(change: dict[str, object], field: str) -> None:
    data = {"type": MESSAGE_RECEIVED, "session_id": "s", "tenant_id": "t", "payload": {"text": "x"}}
    with pytest.raises(ValidationError) as err:
        envelope_from_dict({**data, **change})
    assert err.value.field == field
    assert err.value.reason


def test_unknown_type_is_refused_with_the_type_field() -> None:
    with pytest.raises(ValidationError) as err:
        envelope_from_dict({"type": "no.such.thing", "session_id": "s", "tenant_id": "t"})
    assert err.value.field == "type"


def test_validate_model_prefixes_the_path() -> None:
    with pytest.raises(ValidationError) as err:
        validate_model(Usage, {"prompt_tokens": -1}, prefix="turn.usage")
    assert err.value.field == "turn.usage.prompt_tokens"


def test_make_event_refuses_the_wrong_payload_model() -> None:
    with pytest.raises(ValidationError) as err:
        make_event(TURN_COMPLETED, MessageReceived(text="hi"), session_id="s", tenant_id="t")
    assert err.value.field == "payload"
