"""The argument step's pure functions: prompts, requests and parsing, with real values."""

from __future__ import annotations

from application.test_agent_loop import PY, SEARCH
from somaagent.application.agent_loop import Respond, UseTool
from somaagent.application.tool_arguments import (
    CODE_PREFILL,
    FENCE_END,
    argument_messages,
    argument_request,
    needs_repair,
    parse_arguments,
    repair_messages,
    required_only,
)
from somaagent.domain.tools import ToolCall, ToolResult

PROMPT = [
    {"role": "system", "content": "You are Soma."},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "run print(1)"},
]


def test_argument_step_instruction_is_in_the_stable_system_prefix() -> None:
    for tool in (PY, SEARCH):
        messages = argument_messages(PROMPT, tool)
        assert messages[0]["role"] == "system"
        assert messages[0]["content"].startswith(f"You are Soma.\n\nCall the tool {tool.name}")
        assert messages[1:4] == PROMPT[1:]  # history and the message follow, unchanged
        other = argument_messages([*PROMPT[:-1], {"role": "user", "content": "2**10?"}], tool)
        assert other[0] == messages[0]  # the same prefix for every turn that calls the tool
    # a code tool's reply starts with the opening fence; the JSON grammar guides the others
    assert argument_messages(PROMPT, PY)[4:] == [{"role": "assistant", "content": CODE_PREFILL}]
    assert len(argument_messages(PROMPT, SEARCH)) == 4
    bare = argument_messages([{"role": "user", "content": "run print(1)"}], PY)
    assert [m["role"] for m in bare] == ["system", "user", "assistant"]


def test_a_code_tool_is_asked_for_a_code_block_and_others_for_json() -> None:
    code = argument_request(argument_messages(PROMPT, PY), PY, 200)
    assert code.json_schema is None and code.stop == [FENCE_END] and code.max_tokens == 200
    json_args = argument_request(argument_messages(PROMPT, SEARCH), SEARCH, 200)
    assert json_args.stop is None and json_args.json_schema == required_only(SEARCH.parameters)
    assert code.temperature == json_args.temperature == 0.0


def test_the_first_code_block_becomes_the_program() -> None:
    # the stop sequence ends the output before the closing fence
    assert parse_arguments("```python\nprint(17 * 23)", PY) == UseTool(
        "code_execution", {"language": "python", "code": "print(17 * 23)"}
    )
    closed = "Here you go:\n```py\nx = 6*7\n```\nIt prints 42."
    assert parse_arguments(closed, PY) == UseTool(
        "code_execution", {"language": "python", "code": "x = 6*7\nprint(x)"}
    )
    assert parse_arguments("```bash\nls -l\n```", PY) == UseTool(
        "code_execution", {"language": "shell", "code": "ls -l"}
    )
    assert parse_arguments("I cannot run code.", PY) == Respond()  # no block: answer
    # a server that does not echo the prefill returns the block without its opening fence
    assert parse_arguments("python\nprint(2)", PY) == UseTool(
        "code_execution", {"language": "python", "code": "print(2)"}
    )
    assert parse_arguments("```python\n\n```", PY) == Respond()


def test_json_arguments_for_other_tools() -> None:
    assert parse_arguments('{"query": "asyncio"}', SEARCH) == UseTool(
        "web_search", {"query": "asyncio"}
    )
    assert parse_arguments("not json at all", SEARCH) == Respond()
    assert parse_arguments('["asyncio"]', SEARCH) == Respond()


def test_code_that_raised_gets_a_repair_round_with_its_error() -> None:
    call = ToolCall(
        tool="code_execution",
        arguments={"language": "python", "code": "print(mississippi.count('s'))"},
        session_id="s", tenant_id="t", correlation_id="c",
    )  # fmt: skip
    raised = ToolResult(
        request_id=call.request_id, tool="code_execution", status="error",
        stderr="Traceback (most recent call last):\nNameError: name 'mississippi' is not defined",
    )  # fmt: skip
    timed_out = raised.model_copy(update={"status": "timeout", "stderr": ""})
    assert needs_repair(call, raised) and not needs_repair(call, timed_out)
    search = call.model_copy(update={"tool": "web_search"})
    assert not needs_repair(search, raised.model_copy(update={"tool": "web_search"}))
    prompt = [{"role": "system", "content": "You are Soma."}, {"role": "user", "content": "x"}]
    messages = repair_messages(prompt, PY, call, raised)
    assert messages[:2] == argument_messages(prompt, PY)[:2]  # the step's prefix, no prefill
    assert messages[2] == {
        "role": "assistant",
        "content": "```python\nprint(mississippi.count('s'))\n```",
    }
    assert messages[3]["role"] == "user"
    assert "NameError: name 'mississippi' is not defined" in messages[3]["content"]
    assert "write it in quotes ('mississippi')" in messages[3]["content"]
    assert "```python block" in messages[3]["content"]
    assert messages[4:] == [{"role": "assistant", "content": CODE_PREFILL}]
    other = raised.model_copy(update={"stderr": "ZeroDivisionError: division by zero"})
    assert "quotes" not in repair_messages(prompt, PY, call, other)[3]["content"]


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
