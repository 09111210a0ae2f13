"""Pure replay of session events: deterministic, bounded, idempotent per seq."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from somaagent.domain.event_store import StoredEvent
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    SUMMARY_CREATED,
    TOOL_RESULT_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    SummaryCreated,
    make_event,
)
from somaagent.domain.session_state import MAX_ATTACHMENTS, apply, replay
from somaagent.domain.tools import Attachment, ToolResult
from somaagent.domain.turns import ConversationTurn

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def history(turns: int) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    for n in range(turns):
        common = {"session_id": "s", "tenant_id": "t", "correlation_id": f"c{n}"}
        msg = make_event(MESSAGE_RECEIVED, MessageReceived(text=f"q{n}"), **common)
        turn = ConversationTurn(
            correlation_id=f"c{n}",
            session_id="s",
            tenant_id="t",
            user_message=f"q{n}",
            assistant_message=f"a{n}",
            slm={"intent": "ask"},
        )
        done = make_event(TURN_COMPLETED, turn, occurred_at=T0 + timedelta(seconds=n), **common)
        for event in (msg, done):
            out.append(StoredEvent(len(out) + 1, len(out) + 1, event))
    return out


def test_replay_keeps_a_window_of_recent_turns_and_is_deterministic() -> None:
    events = history(30)
    state = replay(events, window=5)
    assert state is not None
    assert state.turn_count == 30 and state.version == 60
    assert [t.user_message for t in state.recent_turns] == [f"q{n}" for n in range(25, 30)]
    assert state.recent_turns[-1].slm == {"intent": "ask"}
    assert state.pending == []
    assert state.last_event_at == T0 + timedelta(seconds=29)
    assert replay(events, window=5) == state
    assert replay(events[30:], replay(events[:30], window=5)) == state


def test_unanswered_message_is_pending_and_in_messages() -> None:
    events = history(2)
    extra = make_event(
        MESSAGE_RECEIVED,
        MessageReceived(text="still waiting"),
        session_id="s",
        tenant_id="t",
        correlation_id="c9",
    )
    state = replay([*events, StoredEvent(99, 5, extra)])
    assert state is not None
    assert [p.text for p in state.pending] == ["still waiting"]
    assert [m.role for m in state.messages()] == ["user", "assistant"] * 2 + ["user"]
    assert state.messages()[-1].content == "still waiting"


def test_events_already_applied_are_ignored() -> None:
    events = history(3)
    state = replay(events)
    assert state is not None
    assert apply(state, events[2]) is state


def test_summary_and_attachments_are_tracked() -> None:
    events = history(4)
    summary = make_event(
        SUMMARY_CREATED,
        SummaryCreated(summary="they asked 3 things", through_seq=6, turns_summarized=3),
        session_id="s",
        tenant_id="t",
    )
    files = [Attachment(name=f"f{i}.txt", sha256="0" * 64, size=i) for i in range(60)]
    result = ToolResult(request_id="r", tool="code_execution", status="ok", attachments=files)
    produced = make_event(TOOL_RESULT_RECEIVED, result, session_id="s", tenant_id="t")
    state = replay([*events, StoredEvent(50, 9, summary), StoredEvent(51, 10, produced)])
    assert state is not None
    assert state.summary == "they asked 3 things" and state.summary_through_seq == 6
    assert [t.seq for t in state.unsummarized_turns()] == [8]
    assert len(state.attachments) == MAX_ATTACHMENTS
    assert state.attachments[-1].name == "f59.txt"


def test_history_shows_the_model_what_it_read_in_a_tool_turn() -> None:
    """A tool turn's answer was written from the grounded message (the result, then the
    question): the next turn's history repeats that message, so the result stays in view
    and the prefix the model server cached still matches."""
    grounded = "The code printed:\n391\n\nMy message was: what is 17*23?"
    turn = ConversationTurn(
        correlation_id="c0",
        session_id="s",
        tenant_id="t",
        user_message="what is 17*23?",
        assistant_message="17 times 23 is 391.",
        model_input=grounded,
    )
    event = make_event(TURN_COMPLETED, turn, session_id="s", tenant_id="t", correlation_id="c0")
    state = replay([StoredEvent(1, 1, event)])
    assert state is not None
    assert state.recent_turns[0].user_message == "what is 17*23?"  # what the user sees
    assert [(m.role, m.content) for m in state.messages()] == [
        ("user", grounded),
        ("assistant", "17 times 23 is 391."),
    ]
