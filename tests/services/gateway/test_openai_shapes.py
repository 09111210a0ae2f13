"""The OpenAI API's pure parts with real values: request checks, tool blocks, answer folding,
resend matching and model choice. No servers: these are functions of their inputs."""

from __future__ import annotations

from typing import Any

import pytest

from somaagent.domain.llm import ModelProfile
from somaagent.domain.stream import StreamUpdate
from somaagent.domain.tool_card import ToolCard
from somaagent.domain.tools import ToolCall, ToolResult
from somaagent.domain.turns import ConversationTurn
from somaagent.services.gateway.openai_models import choose
from somaagent.services.gateway.openai_schema import (
    OpenAiError,
    chunk_body,
    parse_request,
    user_texts,
)
from somaagent.services.gateway.openai_sessions import answered, replayed_content
from somaagent.services.gateway.openai_stream import AnswerFolder, render_card

HI = {"role": "user", "content": "hi"}


def refusal(raw: Any) -> OpenAiError:
    with pytest.raises(OpenAiError) as caught:
        user_texts(parse_request(raw))
    return caught.value


def test_a_request_is_checked_field_by_field() -> None:
    assert user_texts(parse_request({"model": "m", "messages": [HI], "top_p": 0.5})) == ["hi"]
    parts = {
        "role": "user",
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
    }
    assert user_texts(parse_request({"model": "m", "messages": [parts]})) == ["a\nb"]
    cases = {
        "messages": {"model": "m", "messages": []},
        "model": {"messages": [HI]},
        "n": {"model": "m", "messages": [HI], "n": 2},
        "tools": {"model": "m", "messages": [HI], "tools": [{"type": "function"}]},
        "messages[1].role": {"model": "m", "messages": [HI, {"role": "assistant", "content": "x"}]},
        "messages[0].content": {"model": "m", "messages": [{"role": "user", "content": "a\x00b"}]},
    }
    for param, raw in cases.items():
        error = refusal(raw)
        assert (error.status, error.type, error.param) == (400, "invalid_request_error", param)
        assert error.body()["error"]["message"].startswith(param) or param in ("n", "tools")
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
    assert refusal({"model": "m", "messages": [image]}).param == "messages[0].content"
    assert refusal(["not", "an", "object"]).param == "body"


def test_the_usage_chunk_has_no_choices_and_adds_the_total() -> None:
    chunk = chunk_body("t", "m", None, usage={"prompt_tokens": 7, "completion_tokens": 5})
    assert chunk["choices"] == []
    assert chunk["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    assert chunk_body("t", "m", {"content": "x"})["choices"][0]["delta"] == {"content": "x"}


CARD = ToolCard(
    request_id="r1",
    tool="code_execution",
    status="ok",
    duration_s=0.04,
    arguments="x = 17\nprint(x * 23)",
    output="391",
)


def update(status: str, seq: int, attempt: int = 1, **fields: Any) -> StreamUpdate:
    return StreamUpdate.model_validate(
        {"status": status, "correlation_id": "c", "seq": seq, "attempt": attempt, **fields}
    )


def test_a_tool_card_is_a_quoted_block_before_the_answer() -> None:
    assert render_card(CARD) == (
        "> tool code_execution (ok, 0.04 s)\n> x = 17\n> print(x * 23)\n> output:\n> 391\n\n"
    )
    folder = AnswerFolder()
    sent = [
        folder.fold(u)
        for u in (
            update("preprocessing", 0),
            update("calling_tool", 1, tool="code_execution"),
            update("tool_result", 2, card=CARD),
            update("tool_result", 3, card=CARD),  # the same call again (a restart re-sends)
            update("streaming", 4, delta="It is 391."),
            update("completed", 5, text="It is 391.", usage={"prompt_tokens": 3}),
        )
    ]
    assert sent == ["", "", render_card(CARD), "", "It is 391.", ""]
    assert folder.done and folder.content() == render_card(CARD) + "It is 391."


def test_a_restarted_attempt_drops_the_earlier_attempts_text() -> None:
    folder = AnswerFolder()
    folder.fold(update("streaming", 1, delta="Hel"))
    folder.fold(update("restarted", 0, attempt=2))
    assert folder.fold(update("streaming", 2, attempt=1, delta="lo")) == ""  # stale
    folder.fold(update("streaming", 1, attempt=2, delta="Hi"))
    assert folder.content() == "Hi"
    folder.fold(update("error", 2, attempt=2, reason="model down"))
    assert folder.final is not None and folder.final.reason == "model down"


def turn(user: str, answer: str, status: str = "completed", **fields: Any) -> ConversationTurn:
    return ConversationTurn(
        correlation_id=f"c-{user}",
        session_id="s",
        tenant_id="t",
        user_message=user,
        assistant_message=answer,
        status=status,  # type: ignore[arg-type]
        **fields,
    )


def test_only_an_exact_resend_of_an_answered_question_is_replayed() -> None:
    turns = [turn("a", "A"), turn("b", "B"), turn("c", "", status="error")]
    assert answered(turns, ["a"]) == turns[0]
    assert answered(turns, ["a", "b"]) == turns[1]
    assert answered(turns, ["b"]) is None  # a trimmed history is a new question
    assert answered(turns, ["a", "x"]) is None
    assert answered(turns, ["a", "b", "c"]) is None  # that turn failed: run it again
    assert answered(turns, ["a", "b", "c", "d"]) is None


def test_a_replayed_answer_shows_its_tool_blocks_as_they_were_sent() -> None:
    call = ToolCall(
        request_id="r1",
        tool="code_execution",
        arguments={"code": "x = 17\nprint(x * 23)"},
        session_id="s",
        tenant_id="t",
        correlation_id="c",
    )
    result = ToolResult(
        request_id="r1", tool="code_execution", status="ok", stdout="391\n", duration_s=0.04
    )
    stored = turn("compute", "It is 391.", tool_calls=[call], tool_results=[result])
    assert replayed_content(stored) == render_card(CARD) + "It is 391."


def profile(name: str, role: str = "dialogue") -> ModelProfile:
    return ModelProfile(name=name, role=role, base_url="http://127.0.0.1:1/v1", model="x")  # type: ignore[arg-type]


def test_the_model_must_name_a_dialogue_profile() -> None:
    known = [profile("big"), profile("small"), profile("slm-x", "slm")]
    assert choose(known, "big") == known[0]
    assert choose(known, "small") == known[1]  # any dialogue profile, not only the tenant's
    codes = {}
    for name in ("gpt-4o", "slm-x"):
        with pytest.raises(OpenAiError) as caught:
            choose(known, name)
        codes[name] = (caught.value.status, caught.value.code)
    assert codes == {"gpt-4o": (404, "model_not_found"), "slm-x": (404, "model_not_found")}
