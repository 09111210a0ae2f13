"""The request body and tool-call assembly, with real values and no server."""

from __future__ import annotations

import pytest

from somaagent.adapters.llm import TOOL_CALL_PREFILL, build_payload
from somaagent.adapters.llm.payload import parse_tool_deltas
from somaagent.domain.errors import ValidationError
from somaagent.domain.llm import (
    ChatRequest,
    ModelParameters,
    ModelProfile,
    ToolCallAssembler,
)

PROFILE = ModelProfile(
    name="p",
    role="dialogue",
    base_url="http://127.0.0.1:1/v1",
    model="qwen",
    parameters=ModelParameters(temperature=0.3, max_tokens=99),
)
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def test_profile_parameters_fill_what_the_request_leaves_open() -> None:
    body = build_payload(
        PROFILE, ChatRequest(messages=[{"role": "user", "content": "x"}]), stream=True
    )
    assert body["max_tokens"] == 99
    assert body["temperature"] == 0.3
    assert body["stream_options"] == {"include_usage": True}
    override = ChatRequest(messages=[{"role": "user", "content": "x"}], max_tokens=5, temperature=0)
    body = build_payload(PROFILE, override, stream=False)
    assert (body["max_tokens"], body["temperature"], "stream" in body) == (5, 0, False)
    assert "presence_penalty" not in body  # the server's default unless asked
    guarded = override.model_copy(update={"presence_penalty": 0.3})
    assert build_payload(PROFILE, guarded, stream=False)["presence_penalty"] == 0.3


def test_force_tool_call_prefills_and_requires_one_call() -> None:
    messages = [{"role": "user", "content": "x"}]
    body = build_payload(
        PROFILE, ChatRequest(messages=messages, tools=[TOOL], force_tool_call=True), stream=True
    )
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert body["messages"][-1] == {"role": "assistant", "content": TOOL_CALL_PREFILL}
    assert messages == [{"role": "user", "content": "x"}]  # the caller's list is untouched


def test_force_tool_call_without_tools_names_the_field() -> None:
    request = ChatRequest(messages=[{"role": "user", "content": "x"}], force_tool_call=True)
    with pytest.raises(ValidationError, match="force_tool_call"):
        build_payload(PROFILE, request, stream=True)


def test_tool_call_fragments_join_by_index() -> None:
    assembler = ToolCallAssembler()
    fragments = [
        [{"index": 0, "id": "a", "function": {"name": "get_weather", "arguments": '{"ci'}}],
        [{"index": 1, "id": "b", "function": {"name": "now", "arguments": ""}}],
        [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}],
    ]
    for raw in fragments:
        for delta in parse_tool_deltas(raw):
            assembler.add(delta)
    calls = assembler.calls()
    assert [(c.id, c.name) for c in calls] == [("a", "get_weather"), ("b", "now")]
    assert calls[0].parsed_arguments() == {"city": "Oslo"}
    assert calls[1].parsed_arguments() == {}


def test_arguments_that_are_not_json_name_the_tool() -> None:
    assembler = ToolCallAssembler()
    for delta in parse_tool_deltas([{"index": 0, "function": {"name": "f", "arguments": "{x"}}]):
        assembler.add(delta)
    with pytest.raises(ValidationError, match=r"tool_calls\.f\.arguments"):
        assembler.calls()[0].parsed_arguments()


def test_a_bad_message_role_is_refused() -> None:
    with pytest.raises(ValueError, match=r"messages\[0\]\.role"):
        ChatRequest(messages=[{"role": "robot", "content": "x"}])
