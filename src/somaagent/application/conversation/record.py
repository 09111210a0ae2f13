"""What a finished turn leaves in the event store (pure)."""

from __future__ import annotations

from datetime import datetime

from somaagent.domain.event_types import (
    MEMORY_OPERATION_RECORDED,
    MESSAGE_RECEIVED,
    POLICY_VERDICT_RECORDED,
    TOOL_CALL_REQUESTED,
    TOOL_RESULT_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    make_event,
)
from somaagent.domain.events import Envelope
from somaagent.domain.llm import ChatResult
from somaagent.domain.turn_state import TurnState
from somaagent.domain.turns import ConversationTurn, Usage


def model_input(state: TurnState) -> str | None:
    """The last user message of the turn's final prompt, when it is not the user's text
    (the grounded prompt of a tool round)."""
    last = state.prompt[-1] if state.prompt else {}
    content = last.get("content")
    if last.get("role") != "user" or not isinstance(content, str) or content == state.user_text:
        return None
    return content


def finished_turn(
    state: TurnState,
    *,
    answer: ChatResult | None,
    error: str | None,
    completed_at: datetime,
    ttft_s: float | None,
) -> ConversationTurn:
    """The ConversationTurn record: text, tokens over every model call, latencies, tools."""
    return ConversationTurn(
        correlation_id=state.correlation_id,
        session_id=state.session_id,
        tenant_id=state.tenant_id,
        persona_id=state.persona_id,
        user_message=state.user_text,
        assistant_message=answer.text if answer else "",
        model_input=model_input(state),
        model_profile=(answer.profile if answer else state.model_profile),
        usage=Usage(prompt_tokens=state.prompt_tokens, completion_tokens=state.completion_tokens),
        ttft_s=ttft_s,
        latency_s=max((completed_at - state.started_at).total_seconds(), 0.0),
        slm=state.slm,
        tool_calls=state.tool_calls,
        tool_results=state.tool_results,
        policy_verdicts=state.policy_verdicts,
        memory_operations=state.memory_operations,
        routed_by=state.routed_by,
        answer_path=state.answer_path,
        status="error" if error else "completed",
        error=error,
        started_at=state.started_at,
        completed_at=completed_at,
    )


def turn_events(state: TurnState, turn: ConversationTurn) -> list[Envelope]:
    """The user's message (same event id as the inbound event, so a retry is a no-op), the
    tool calls, results, verdicts and memory operations of the turn, then the turn."""
    common = {
        "session_id": state.session_id,
        "tenant_id": state.tenant_id,
        "persona_id": state.persona_id,
        "correlation_id": state.correlation_id,
    }
    events = [
        make_event(
            MESSAGE_RECEIVED,
            MessageReceived(text=state.user_text),
            event_id=state.inbound_event_id,
            occurred_at=state.started_at,
            **common,
        )
    ]
    events += [make_event(TOOL_CALL_REQUESTED, c, **common) for c in state.tool_calls]
    events += [make_event(TOOL_RESULT_RECEIVED, r, **common) for r in state.tool_results]
    events += [make_event(POLICY_VERDICT_RECORDED, v, **common) for v in state.policy_verdicts]
    events += [make_event(MEMORY_OPERATION_RECORDED, m, **common) for m in state.memory_operations]
    events.append(make_event(TURN_COMPLETED, turn, **common))
    return events


def wait_timeout_reason(state: TurnState) -> str:
    """Why a turn that waited past its deadline failed (said to the user and persisted)."""
    tool = state.tool_calls[-1].tool if state.tool_calls else "the tool"
    if state.status == "awaiting_policy":
        return f"{tool} waited too long for an admin's policy decision"
    return f"{tool} did not answer in time"
