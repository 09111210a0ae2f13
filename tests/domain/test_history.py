"""Pure history logic with real values: budget fitting and summary planning."""

from __future__ import annotations

import pytest

from somaagent.domain.errors import ValidationError
from somaagent.domain.event_store import StoredEvent
from somaagent.domain.history import fit_to_budget, summary_event, turns_to_summarize
from somaagent.domain.session_state import RecentTurn, SessionState, apply
from somaagent.domain.turns import Message

SYSTEM = [Message(role="system", content="be brief")]


def chat(n: int) -> list[Message]:
    out = []
    for i in range(n):
        out += [Message(role="user", content=f"q{i}"), Message(role="assistant", content=f"a{i}")]
    return out


def test_newest_messages_that_fit_are_kept() -> None:
    history = chat(5)
    costs = [10] * 10
    fitted = fit_to_budget(SYSTEM, [7], history, costs, budget=7 + 45)
    # 4 newest fit (40 tokens); the 4th-newest is an assistant answer cut off from its question
    assert [m.content for m in fitted.messages] == ["be brief", "q3", "a3", "q4", "a4"]
    assert fitted.tokens == 47 and fitted.dropped == 6
    everything = fit_to_budget(SYSTEM, [7], history, costs, budget=1000)
    assert everything.dropped == 0 and everything.tokens == 107


def test_budget_smaller_than_the_fixed_prompt_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        fit_to_budget(SYSTEM, [50], chat(1), [1, 1], budget=10)
    assert err.value.field == "budget"


def _state(turns: int, through: int = 0) -> SessionState:
    recent = [
        RecentTurn(seq=2 * i + 2, correlation_id=f"c{i}", user_message="q", assistant_message="a")
        for i in range(turns)
    ]
    return SessionState(
        session_id="s",
        tenant_id="t",
        version=2 * turns + 1,
        turn_count=turns,
        recent_turns=recent,
        summary_through_seq=through,
    )


def test_summary_is_due_only_for_enough_older_unsummarised_turns() -> None:
    assert turns_to_summarize(_state(6), keep_last=4, min_batch=3) == []
    due = turns_to_summarize(_state(8), keep_last=4, min_batch=3)
    assert [t.seq for t in due] == [2, 4, 6, 8]
    assert turns_to_summarize(_state(8, through=6), keep_last=4, min_batch=3) == []


def test_summary_event_replays_into_the_state() -> None:
    state = _state(8)
    due = turns_to_summarize(state, keep_last=4, min_batch=3)
    event = summary_event(state, "  asked four things  ", due, model="qwen")
    after = apply(state, StoredEvent(1, state.version + 1, event))
    assert after.summary == "asked four things"
    assert after.summary_through_seq == 8
    assert [t.seq for t in after.unsummarized_turns()] == [10, 12, 14, 16]
