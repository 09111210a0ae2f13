"""The agent loop's pure decisions, tested with real values and no adapters."""

from __future__ import annotations

import orjson

from somaagent.application.agent_loop import (
    GUARDED_INSTRUCTION,
    ToolSpec,
    build_prompt,
    choice_messages,
    choice_schema,
    memory_operation,
    parse_choice,
    route,
    slot_arguments,
    unsure,
)
from somaagent.application.code_repair import finish_code
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


def test_prompt_order_keeps_the_system_prompt_first_and_no_annotation_reaches_the_model() -> None:
    slm = SlmResult(
        intent=Intent(name="weather", confidence=0.91),
        slots=(Slot(name="city", value="Oslo", start=15, end=19),),
        safety=(SafetyTag(category="prompt_injection", score=0.1, threshold=0.8),),
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
    assert prompt[2:] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "what about in Oslo?"},
    ]
    text = orjson.dumps(prompt).decode()
    for leak in ("weather", "city", "prompt_injection", "safety", "0.91"):
        assert leak not in text


def test_a_flagged_message_gets_the_fixed_guarded_instruction_only() -> None:
    slm = SlmResult(safety=(SafetyTag(category="prompt_injection", score=0.9, threshold=0.8),))
    prompt = build_prompt(
        system_prompt="You are Soma.", summary=None, history=[], slm=slm, user_text="x"
    )
    assert prompt[0]["content"] == "You are Soma."  # the cached prefix stays as it is
    assert prompt[1:] == [
        {"role": "system", "content": GUARDED_INSTRUCTION},
        {"role": "user", "content": "x"},
    ]
    assert "prompt_injection" not in orjson.dumps(prompt).decode()


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
    assert route(slm_for("run_code", 0.9), intents, [SEARCH]) is None  # tool not offered
    assert route(SlmResult(missing=("intent",)), intents, tools) is None
    assert route(None, intents, tools) is None


def test_the_models_own_threshold_decides_and_a_flagged_message_calls_no_tool() -> None:
    intents = {"run_code": "code_execution"}
    calibrated = SlmResult(intent=Intent(name="run_code", confidence=0.3), route_threshold=0.25)
    assert route(calibrated, intents, [PY]) == PY
    flagged = SlmResult(
        intent=Intent(name="run_code", confidence=0.99),
        safety=(SafetyTag(category="prompt_injection", score=0.95, threshold=0.8),),
    )
    assert route(flagged, intents, [PY]) is None
    assert not unsure(flagged, intents, [PY])


def test_an_unsure_tool_intent_goes_to_the_model() -> None:
    intents = {"run_code": "code_execution"}
    assert unsure(slm_for("run_code", 0.3), intents, [PY])
    assert not unsure(slm_for("run_code", 0.9), intents, [PY])  # sure: routed
    assert not unsure(slm_for("run_code", 0.05), intents, [PY])  # too weak to ask
    assert not unsure(slm_for("greet", 0.3), intents, [PY])  # not a tool intent


def test_choice_step_offers_the_tools_and_none_and_reads_the_answer() -> None:
    schema = choice_schema([PY, SEARCH])
    assert schema["properties"]["tool"]["enum"] == ["code_execution", "web_search", "none"]
    messages = choice_messages([{"role": "user", "content": "17*23?"}], [PY, SEARCH])
    assert "code_execution" in messages[-1]["content"] and messages[-1]["role"] == "system"
    assert parse_choice('{"tool": "code_execution"}', [PY, SEARCH]) == PY
    assert parse_choice('{"tool": "none"}', [PY, SEARCH]) is None
    assert parse_choice("code_execution", [PY, SEARCH]) is None


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


def test_python_that_prints_nothing_gets_its_result_printed_like_a_repl() -> None:
    def code(text: str, language: str = "python") -> str:
        return str(finish_code({"language": language, "code": text})["code"])

    assert code("result = 17*23") == "result = 17*23\nprint(result)"
    assert code("x = 2\nx * 3").endswith("_ = (x * 3)\nif _ is not None:\n    print(_)")
    assert code("print(17*23)") == "print(17*23)"  # prints already: untouched
    assert code("a, b = 1, 2") == "a, b = 1, 2"  # nothing single to print
    assert code("def f(:") == "def f(:"  # not Python: left for the sandbox to report
    assert code("echo hi", language="shell") == "echo hi"


def test_line_breaks_a_model_put_inside_a_python_string_are_escaped() -> None:
    broken = 'with open("n.txt", "w") as fh:\n    fh.write("1\n2\n")'
    fixed = finish_code({"language": "python", "code": broken})["code"]
    assert fixed == 'with open("n.txt", "w") as fh:\n    fh.write("1\\n2\\n")'
    still_broken = "def f(:\n  'a\n'"
    assert finish_code({"language": "python", "code": still_broken})["code"] == still_broken
    # the repair runs when the code prints too (the eval's markdown-table job did)
    table = "for i in range(1, 3):\n    print(f'| {i} |\n')"
    assert finish_code({"language": "python", "code": table})["code"] == (
        "for i in range(1, 3):\n    print(f'| {i} |\\n')"
    )


def test_a_compound_statement_after_a_semicolon_is_split_onto_its_own_line() -> None:
    one_line = "import json; with open('d.json', 'w') as f: json.dump({'a': 1}, f)"
    fixed = finish_code({"language": "python", "code": one_line})["code"]
    assert fixed == "import json\nwith open('d.json', 'w') as f: json.dump({'a': 1}, f)"
    indented = "if True:\n    x = 1; for i in range(x): print(i)"
    assert finish_code({"language": "python", "code": indented})["code"] == (
        "if True:\n    x = 1\n    for i in range(x): print(i)"
    )
    kept = "print('a; b'); print(2)"  # valid already: untouched, the string too
    cut_short = "with open('t.md', 'w') as f:\n    f.write('| n |\n| 1 |\n"  # ended early
    assert finish_code({"language": "python", "code": cut_short})["code"] == (
        "with open('t.md', 'w') as f:\n    f.write('| n |\\n| 1 |\\n')"
    )
    assert finish_code({"language": "python", "code": kept})["code"] == kept


def test_standard_modules_used_without_an_import_are_imported() -> None:
    def code(text: str) -> str:
        return str(finish_code({"language": "python", "code": text})["code"])

    assert code("print(math.factorial(12))") == "import math\nprint(math.factorial(12))"
    assert code("print(json.dumps(statistics.mean([1, 2])))") == (
        "import json\nimport statistics\nprint(json.dumps(statistics.mean([1, 2])))"
    )
    assert code("import math\nprint(math.pi)") == "import math\nprint(math.pi)"
    assert code("math = 3\nprint(math.real)") == "math = 3\nprint(math.real)"  # bound here
    assert code("print(word.upper())") == "print(word.upper())"  # not a module: left alone
