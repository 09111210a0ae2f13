"""The argument step: how the dialogue model writes the arguments of the tool a turn calls.

Most tools get their arguments as a JSON object under the tool's JSON Schema (the model
server constrains the output to it). A tool whose argument is a program (`CODE_TOOLS`) gets
it as one fenced code block instead, the way coder models are trained to write code: on the
24 compute and text tasks of evals/agent_tasks.yaml the 1.5B model wrote correct programs for
22 as a fenced block against 19 as a JSON string, with 476 output tokens against 816 (no
escaped newlines and quotes, no JSON wrapper), so the step takes about half the time. The
user's own code comes first in the hint: told only to "use that code unchanged" at the end, the
1.5B wrapped "run python: print(17*23)" in a subprocess call.

Both styles keep the step's instruction in the system message, the same for every turn that
calls the tool, so the model server reuses its cached prefix across turns and sessions.
Code that raised gets one repair round (`repair_messages`) in the same style.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from somaagent.application.agent_loop import Decision, Respond, ToolSpec, UseTool
from somaagent.application.code_repair import finish_code
from somaagent.domain.llm import ChatRequest
from somaagent.domain.tools import ToolCall, ToolResult

#: Tools whose arguments are a program written as a fenced block: tool -> the argument
#: that holds the program (the block's language tag fills `language`).
CODE_TOOLS: dict[str, str] = {"code_execution": "code"}
#: What a small model must be told to write good code for a code tool.
CODE_HINT = (
    "If the user's message contains code, reply with exactly that code. Otherwise write a "
    "short Python 3 program that computes the answer and prints it with print(); put quotes "
    "around text values. To make a file, write it in the current directory with "
    "open(name, 'w')."
)
CODE_REPLY = "Reply with the code only, in one ```python block."
#: The start of the code step's reply, written for the model (an assistant prefill): it
#: keeps a small model on task without a reminder after the user's message (about 15
#: prompt tokens, ~0.3 s on the 1.5B), and the model still picks the block's language tag.
#: Measured on the 24 compute and text tasks and 22 held-out ones: 22/24 and 19/22 programs
#: right, as with the reminder (21/24, 19/22), with 527 prompt tokens instead of 911.
CODE_PREFILL = "```"
#: The argument step stops where the model closes its code block.
FENCE_END = "\n```"
#: What a small model must be told to write good JSON arguments for a tool.
ARGUMENT_HINTS: dict[str, str] = {
    "web_search": "The query is a few keywords from the user's question.",
    "memory_load": "The query is a few keywords naming what to recall.",
}
#: presence_penalty of the argument step: at 0 the 1.5B sometimes wrote one line of code
#: again and again until max_tokens.
ARGUMENT_PRESENCE_PENALTY = 0.3
#: Lines of a failed run's error output the repair round shows the model.
REPAIR_ERROR_LINES = 6
_UNDEFINED_NAME = re.compile(r"NameError: name '(\w+)' is not defined")
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:\n?```|\Z)", re.DOTALL)
_AFTER_PREFILL = re.compile(r"[\w+-]*\n")
_SHELL_TAGS = frozenset({"bash", "sh", "shell", "console", "zsh"})


def argument_instruction(tool: ToolSpec) -> str:
    head = f"Call the tool {tool.name} ({tool.description}) to handle the last user message."
    if tool.name in CODE_TOOLS:
        return f"{head} {CODE_HINT} {CODE_REPLY}"
    hint = ARGUMENT_HINTS.get(tool.name, "")
    return f"{head} {hint} Reply with its arguments as a JSON object only."


def argument_messages(prompt: list[dict[str, Any]], tool: ToolSpec) -> list[dict[str, Any]]:
    """The prompt with the argument step's instruction in its system message; for a code
    tool, the opening fence of the model's reply (a prefill).

    The instruction is the same for every turn that calls `tool`, so keeping it in the
    prefix (system prompt + instruction) lets the model server reuse its cached KV across
    sessions: only the history and the new message are evaluated. A one-line reminder
    after the message used to keep the 1.5B on task (without it, it sometimes repeated a
    line of code until max_tokens); the prefill does that for code for 1 token instead of
    about 15, and the JSON grammar does it for the other tools (on the 20 docs and recall
    tasks of evals/agent_tasks.yaml, 16 queries came out the same without the reminder and
    4 as keywords instead of the question)."""
    if tool.name in CODE_TOOLS:
        return [*instructed(prompt, tool), {"role": "assistant", "content": CODE_PREFILL}]
    return instructed(prompt, tool)


def instructed(prompt: list[dict[str, Any]], tool: ToolSpec) -> list[dict[str, Any]]:
    """`prompt` with the argument step's instruction after its system prompt."""
    instruction = argument_instruction(tool)
    if prompt and prompt[0].get("role") == "system":
        system = {"role": "system", "content": f"{prompt[0]['content']}\n\n{instruction}"}
        return [system, *prompt[1:]]
    return [{"role": "system", "content": instruction}, *prompt]


def argument_request(
    messages: list[dict[str, Any]], tool: ToolSpec, max_tokens: int
) -> ChatRequest:
    """The model request of the argument step: a code block that ends at its closing
    fence for a code tool, a JSON object under the tool's schema for the others."""
    if tool.name in CODE_TOOLS:
        return ChatRequest(
            messages=messages,
            max_tokens=max_tokens,
            temperature=0.0,
            stop=[FENCE_END],
            presence_penalty=ARGUMENT_PRESENCE_PENALTY,
        )
    return ChatRequest(
        messages=messages,
        json_schema=required_only(tool.parameters),
        max_tokens=max_tokens,
        temperature=0.0,
        presence_penalty=ARGUMENT_PRESENCE_PENALTY,
    )


def required_only(schema: dict[str, Any]) -> dict[str, Any]:
    """The argument schema a small model fills: only the required properties (optional ones
    keep the tool's defaults; a 0.5B model otherwise invents values for them)."""
    required = schema.get("required") or []
    properties = schema.get("properties") or {}
    if not required:
        return schema
    return {
        **schema,
        "properties": {k: v for k, v in properties.items() if k in required},
        "additionalProperties": False,
    }


def parse_arguments(text: str, tool: ToolSpec) -> Decision:
    """Read the argument step's output; output with no arguments in it means: answer."""
    if tool.name in CODE_TOOLS:
        return parse_code(text, tool)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Respond()
    if not isinstance(value, dict):
        return Respond()
    return UseTool(tool=tool.name, arguments=finish_code(value))


def parse_code(text: str, tool: ToolSpec) -> Decision:
    """The first fenced block of the output as the tool's program (cut off at max_tokens,
    it runs as far as it goes: code repair closes what is open). Its language tag picks
    shell for bash-like tags and Python otherwise. No block, or an empty one: answer."""
    if _AFTER_PREFILL.match(text):  # a server that returns the reply without its prefill
        text = CODE_PREFILL + text
    found = _FENCE.search(text)
    if found is None or not found.group(2).strip():
        return Respond()
    language = "shell" if found.group(1).lower() in _SHELL_TAGS else "python"
    arguments = {"language": language, CODE_TOOLS[tool.name]: found.group(2).strip("\n")}
    return UseTool(tool=tool.name, arguments=finish_code(arguments))


def needs_repair(call: ToolCall, result: ToolResult) -> bool:
    """Code the model wrote that raised an error (a traceback, not a timeout or a policy
    or sandbox failure): worth one repair round."""
    return (
        call.tool in CODE_TOOLS
        and result.status == "error"
        and ("Error" in result.stderr or "Traceback" in result.stderr)
    )


def repair_messages(
    prompt: list[dict[str, Any]], tool: ToolSpec, call: ToolCall, result: ToolResult
) -> list[dict[str, Any]]:
    """The argument step again, with the failed program and the error it raised: the
    model writes corrected code."""
    error = "\n".join(result.stderr.strip().splitlines()[-REPAIR_ERROR_LINES:])
    code = str(call.arguments.get(CODE_TOOLS.get(tool.name, "code"), ""))
    tag = "bash" if call.arguments.get("language") == "shell" else "python"
    return [
        *instructed(prompt, tool),
        {"role": "assistant", "content": f"```{tag}\n{code}\n```"},
        {
            "role": "user",
            "content": f"That failed with:\n{error}\n{repair_hint(error)}Fix the code. "
            f"{CODE_REPLY}",
        },
        {"role": "assistant", "content": CODE_PREFILL},
    ]


def repair_hint(error: str) -> str:
    """A line of help for the error a small model most often cannot fix alone: a bare word
    meant as text (without this line the 1.5B wrote `mississippi.count('s')` again)."""
    undefined = _UNDEFINED_NAME.search(error)
    if undefined is None:
        return ""
    name = undefined.group(1)
    return (
        f"{name} is not defined: if it is text, write it in quotes ('{name}'); "
        "if it is a module, import it.\n"
    )
