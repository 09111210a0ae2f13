"""The agent loop's pure decisions, tested with real values and no adapters."""

from __future__ import annotations

import orjson

from somaagent.application.agent_loop import (
    TOOL_OUTPUT_CHARS,
    Respond,
    ToolSpec,
    UseTool,
    argument_messages,
    build_prompt,
    memory_operation,
    parse_arguments,
    required_only,
    route,
    slot_arguments,
    tool_result_text,
    with_tool_exchange,
)
from somaagent.domain.memory import MemoryOperation
from somaagent.domain.policy import PolicyVerdict
from somaagent.domain.slm import Intent, SafetyTag, SlmResult, Slot
from somaagent.domain.tools import ToolCall, ToolResult

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
    assert "intent=weather" in note and "0.91" not in note
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


def slm_for(intent: str, confidence: float, out_of_scope: bool = False) -> SlmResult:
    return SlmResult(intent=Intent(name=intent, confidence=confidence, out_of_scope=out_of_scope))


def test_route_follows_a_confident_tool_intent_only() -> None:
    intents = {"run_code": "code_execution", "web_search": "web_search"}
    tools = [PY, SEARCH]
    assert route(slm_for("run_code", 0.9), intents, tools) == PY
    assert route(slm_for("web_search", 0.4), intents, tools) == SEARCH
    assert route(slm_for("run_code", 0.39), intents, tools) is None
    assert route(slm_for("greet", 0.99), intents, tools) is None
    assert route(slm_for("run_code", 0.9, out_of_scope=True), intents, tools) is None
    assert route(slm_for("run_code", 0.9), intents, [SEARCH]) is None  # tool not offered
    assert route(SlmResult(missing=("intent",)), intents, tools) is None
    assert route(None, intents, tools) is None


def test_argument_step_instruction_names_the_tool() -> None:
    messages = argument_messages([{"role": "user", "content": "run print(1)"}], PY)
    assert messages[0]["role"] == "user"
    assert "code_execution" in messages[-1]["content"]
    assert messages[-1]["role"] == "system"


def test_parse_arguments() -> None:
    assert parse_arguments('{"query": "asyncio"}', SEARCH) == UseTool(
        "web_search", {"query": "asyncio"}
    )
    assert parse_arguments("not json at all", SEARCH) == Respond()
    assert parse_arguments('["asyncio"]', SEARCH) == Respond()


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
    base = [
        {"role": "user", "content": "compute 6*7"},
        {"role": "system", "content": "Message annotations: intent=run_code"},
    ]
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
    assert len(out) == 3  # the annotation note is gone: small models repeat it as the answer


def test_memory_rounds_become_memory_operations() -> None:
    def call(tool: str, **arguments: object) -> ToolCall:
        return ToolCall(
            tool=tool, arguments=arguments, session_id="s", tenant_id="t", correlation_id="c"
        )

    verdict = PolicyVerdict(allow=True, reasons=[], constitution_hash="h")
    saved = MemoryOperation(
        kind="write", namespace="default", content="I like tea", verdict=verdict
    )
    save_result = ToolResult(
        request_id="r1", tool="memory_save", status="ok",
        data={"operation": saved.model_dump(mode="json"), "memory_id": "m1"},
    )  # fmt: skip
    assert memory_operation(call("memory_save", content="I like tea"), save_result) == saved

    load_result = ToolResult(request_id="r2", tool="memory_load", status="ok", stdout="0.9 tea")
    read = memory_operation(call("memory_load", query="drinks", namespace="session"), load_result)
    assert read is not None and (read.kind, read.namespace, read.content) == (
        "read",
        "session",
        "drinks",
    )
    other = ToolResult(request_id="r3", tool="code_execution", status="ok", stdout="42")
    assert memory_operation(call("code_execution", language="python", code="1"), other) is None


def test_slots_fill_mapped_arguments_or_leave_them_to_the_model() -> None:
    save = ToolSpec("memory_save", "remember", {"type": "object"})
    mapping = {"memory_save": {"content": "fact"}}
    with_fact = SlmResult(slots=(Slot(name="fact", value="I live in Oslo", start=17, end=31),))
    assert slot_arguments(save, mapping, with_fact) == {"content": "I live in Oslo"}
    assert slot_arguments(save, mapping, SlmResult()) is None  # the slot was not found
    assert slot_arguments(PY, mapping, with_fact) is None  # no mapping for this tool
    assert slot_arguments(save, mapping, None) is None


def test_the_model_fills_only_required_arguments() -> None:
    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "namespace": {"type": "string", "default": "default"},
            "limit": {"type": "integer", "default": 3},
        },
        "required": ["query"],
    }
    narrowed = required_only(schema)
    assert set(narrowed["properties"]) == {"query"} and narrowed["additionalProperties"] is False
    assert required_only({"type": "object", "properties": {"a": {}}}) == {
        "type": "object",
        "properties": {"a": {}},
    }
