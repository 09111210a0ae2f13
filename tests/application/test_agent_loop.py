"""The agent loop's pure decisions, tested with real values and no adapters."""

from __future__ import annotations

import jsonschema
import orjson

from somaagent.application.agent_loop import (
    MAX_TOOL_ROUNDS,
    TOOL_OUTPUT_CHARS,
    Respond,
    ToolSpec,
    UseTool,
    build_prompt,
    decision_schema,
    next_decision,
    parse_decision,
    tool_result_text,
    with_tool_exchange,
)
from somaagent.domain.slm import Intent, SafetyTag, SlmResult, Slot
from somaagent.domain.tools import ToolResult

PY = ToolSpec(
    "code_execution",
    "run Python",
    {
        "type": "object",
        "properties": {"language": {"enum": ["python", "shell"]}, "code": {"type": "string"}},
        "required": ["language", "code"],
        "additionalProperties": False,
    },
)
SEARCH = ToolSpec(
    "web_search",
    "search docs",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


def test_prompt_order_keeps_the_system_prompt_first_and_the_message_last() -> None:
    slm = SlmResult(
        intent=Intent(name="weather", confidence=0.91),
        slots=(Slot(name="city", value="Oslo", start=15, end=19),),
        safety=(SafetyTag(category="prompt_injection", score=0.97),),
    )
    prompt = build_prompt(
        system_prompt="You are Soma.",
        summary="We talked about rain.",
        history=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        slm=slm,
        user_text="what about in Oslo?",
    )
    assert prompt[0] == {"role": "system", "content": "You are Soma."}
    assert "We talked about rain." in prompt[1]["content"]
    assert prompt[2:4] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    note = prompt[4]["content"]
    assert "intent=weather (0.91)" in note
    assert "city='Oslo'" in note
    assert "prompt_injection" in note
    assert prompt[-1] == {"role": "user", "content": "what about in Oslo?"}


def test_no_annotations_no_note() -> None:
    prompt = build_prompt(
        system_prompt="s",
        summary=None,
        history=[],
        slm=SlmResult(missing=("intent",)),
        user_text="x",
    )
    assert [m["role"] for m in prompt] == ["system", "user"]


def test_decision_schema_accepts_respond_and_valid_tool_calls_only() -> None:
    schema = decision_schema([PY, SEARCH])
    jsonschema.validate({"action": "respond"}, schema)
    jsonschema.validate(
        {"action": "code_execution", "arguments": {"language": "python", "code": "1"}}, schema
    )
    for bad in (
        {"action": "rm"},
        {"action": "code_execution", "arguments": {"language": "cobol", "code": "1"}},
        {"action": "respond", "extra": 1},
    ):
        try:
            jsonschema.validate(bad, schema)
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"schema accepted {bad}")


def test_parse_decision() -> None:
    call = '{"action": "web_search", "arguments": {"query": "asyncio"}}'
    assert parse_decision(call, [PY, SEARCH]) == UseTool("web_search", {"query": "asyncio"})
    assert parse_decision('{"action": "respond"}', [PY]) == Respond()
    assert parse_decision("not json at all", [PY]) == Respond()
    assert parse_decision('{"action": "web_search", "arguments": {}}', [PY]) == Respond()
    assert parse_decision('["web_search"]', [SEARCH]) == Respond()


def test_round_limit_forces_an_answer() -> None:
    use = UseTool("web_search", {"query": "x"})
    assert next_decision(use, MAX_TOOL_ROUNDS - 1) == use
    assert next_decision(use, MAX_TOOL_ROUNDS) == Respond()


def test_tool_result_text_is_clipped_and_says_what_happened() -> None:
    result = ToolResult(
        request_id="r1",
        tool="code_execution",
        status="error",
        exit_code=1,
        stdout="x" * 5000,
        stderr="Traceback",
        reason=None,
    )
    text = tool_result_text(result)
    assert text.startswith("status: error\nexit code: 1\noutput:\n")
    assert text.endswith("[output truncated]")
    assert len(text) <= TOOL_OUTPUT_CHARS + len("\n[output truncated]")


def test_tool_exchange_appends_call_and_result() -> None:
    base = [{"role": "user", "content": "compute 6*7"}]
    result = ToolResult(
        request_id="r", tool="code_execution", status="ok", exit_code=0, stdout="42\n"
    )
    out = with_tool_exchange(
        base, "code_execution", {"language": "python", "code": "print(6*7)"}, result
    )
    assert out[0] == base[0]
    call = orjson.loads(out[1]["content"].split(": ", 1)[1])
    assert call == {
        "tool": "code_execution",
        "arguments": {"language": "python", "code": "print(6*7)"},
    }
    assert "42" in out[2]["content"] and out[2]["role"] == "user"
