"""Answers grounded in a tool's result, as pure functions: the prompt, the check, the fallback.

After a tool round a small model answers best from a prompt built for it: the result
first, then the user's question restated, then a request for a short answer. Its reply is
checked before the user reads it:

    grounded_prompt(prompt, call, result)   the answer step's messages
    grounding_problem(reply, call, result)  None, or why the reply cannot be shown
    stricter_prompt(system, question, ...)  the one retry: state the result, nothing else
    templated_reply(call, result)           the last resort: a sentence that states the result

A reply fails the check when it echoes tool-call syntax, refuses after a tool that
succeeded, omits a short result (a number, a word, a line of output), or answers after a
tool that failed without saying so (a small model then states a value it invented). The turn records
which path its answer took (`AnswerPath`).
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from somaagent.domain.tools import ToolCall, ToolResult

AnswerPath = Literal[
    "model",
    "tool_answer",
    "tool_retry",
    "tool_template",
    "save_confirmed",
    "safety_refusal",
    "prompt_withheld",
]

#: A result this short (characters, lines) is a fact the reply must state.
SHORT_RESULT_CHARS: Final = 80
SHORT_RESULT_LINES: Final = 3
#: Characters of a result the answer step reads (the full result is persisted).
RESULT_CHARS: Final = 1200
#: Search hits and memories the answer step reads.
TOP_ITEMS: Final = 3

TOOL_SYNTAX = re.compile(
    r"I will use a tool|</?tool_call>|\"(?:tool|arguments|name)\"\s*:|\btool_calls?\b",
    re.IGNORECASE,
)
REFUSAL = re.compile(
    r"\b(?:I'?m sorry|I am sorry|I apologi[sz]e|I can(?:'|no)t (?:assist|help|do that)"
    r"|I(?:'m| am) (?:not able|unable) to)\b",
    re.IGNORECASE,
)
#: How the answer step introduces a tool's result: in words a user would use, since a small
#: model repeats the label ("The result of memory_save is ...") when it names the tool.
RESULT_LABELS: Final = {
    "code_execution": "The code printed",
    "memory_save": "Saved to your memories",
    "memory_load": "From memory",
    "web_search": "Search results from the Python docs",
}
#: After a save there is nothing to state but what was saved (the general instruction made
#: the 1.5B write "The result is: Please note that ...", repeating the user's message).
SAVE_INSTRUCTION: Final = (
    "Confirm in one short sentence what you will remember; do not describe tools."
)
#: How to answer after a tool, at the end of the rewritten message. There the turn's
#: stored history carries it, so the next turn's prompt begins with exactly what the model
#: server has cached from the answer: in the answer step's system message instead (about
#: 20 tokens fewer per tool turn), a chat turn after a tool turn re-read its whole history
#: (first token after 0.9 s instead of 0.3 s). In every system prompt it changed chat
#: turns: the 1.5B answered "Say OK." with "Sure." and, reworded, gave step-by-step
#: answers to a pipe-bomb request it otherwise declines (3 of 3).
TOOL_ANSWER_RULE: Final = "Answer in one short sentence that includes the result."
#: A recall's search returns the closest memories, which need not answer the question;
#: the conversation itself may (the 1.5B answered "What is my job?" from an unrelated
#: memory though the user had said "I work as a nurse" two messages before).
RECALL_NOTE: Final = "If the memories do not answer it but our conversation does, use that."
#: Words by which a reply says that a tool did not succeed.
ADMITS_FAILURE = re.compile(
    r"\b(?:fail\w*|errors?|exception|could ?n[o']t|did ?n[o']t|unable|not (?:work|run|succeed)"
    r"\w*|problem|issue|went wrong|timed? ?out|denied|not allowed)\b",
    re.IGNORECASE,
)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_SPACE = re.compile(r"\s+")


def result_text(call: ToolCall, result: ToolResult) -> str:
    """What the answer step reads of a result: the part that answers, clipped, no scores."""
    if result.status != "ok":
        detail = result.stderr.strip() or result.reason or result.stdout.strip()
        text = f"{call.tool} failed ({result.status}): {detail or 'no details'}"
    elif call.tool == "memory_load":
        text = _bullets(_memories(result), "nothing is saved about this yet")
    elif call.tool == "memory_save":
        text = str(call.arguments.get("content", ""))
    elif call.tool == "web_search":
        text = _bullets(_hits(result), "no results")
    else:
        text = result.stdout.strip() or _attachments(result) or "(no output)"
    return text if len(text) <= RESULT_CHARS else text[:RESULT_CHARS] + " [...]"


def result_label(call: ToolCall, result: ToolResult) -> str:
    """The words that introduce a result in the answer step (a failure keeps the tool's name)."""
    if result.status != "ok":
        return f"Result of {call.tool}"
    return RESULT_LABELS.get(call.tool, f"Result of {call.tool}")


def grounded_prompt(
    prompt: list[dict[str, Any]], call: ToolCall, result: ToolResult
) -> list[dict[str, Any]]:
    """The prompt before the tool round for the answer: everything before the last user
    message unchanged (the model server's cache holds it), and that message rewritten as
    the result first, then the question restated, then how to answer."""
    *before, last = prompt
    question = str(last.get("content", ""))
    content = (
        f"{result_label(call, result)}:\n{result_text(call, result)}\n\n"
        f"My message was: {question}{answer_note(call, result)}"
    )
    return [*before, {"role": "user", "content": content}]


def answer_note(call: ToolCall, result: ToolResult) -> str:
    """How the answer step is asked to answer after this tool's result."""
    if call.tool == "memory_save" and result.status == "ok":
        return f"\n{SAVE_INSTRUCTION}"
    if call.tool == "memory_load":
        return f"\n{RECALL_NOTE} {TOOL_ANSWER_RULE}"
    return f"\n{TOOL_ANSWER_RULE}"


def stricter_prompt(
    system_prompt: str, question: str, call: ToolCall, result: ToolResult
) -> list[dict[str, Any]]:
    """The retry after a failed check: only the result and the question, one sentence."""
    content = (
        f"Question: {question}\nResult: {result_text(call, result)}\n"
        "Write one sentence that answers the question with this exact result."
    )
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": content}]


def key_result(call: ToolCall, result: ToolResult) -> str | None:
    """The short output a reply must contain, when the tool returned one."""
    if result.status != "ok" or call.tool != "code_execution":
        return None
    out = result.stdout.strip()
    if not out or len(out) > SHORT_RESULT_CHARS or out.count("\n") >= SHORT_RESULT_LINES:
        return None
    return out


def silent(call: ToolCall, result: ToolResult) -> bool:
    """Code that ran and left nothing to report (no output, no files): any value a model
    would state about it is invented, so the templated reply says so instead."""
    return (
        call.tool == "code_execution"
        and result.status == "ok"
        and not result.stdout.strip()
        and not result.attachments
    )


def grounding_problem(reply: str, call: ToolCall, result: ToolResult) -> str | None:
    """Why `reply` cannot stand as the answer to this tool round, or None when it can."""
    if not reply.strip():
        return "empty reply"
    if TOOL_SYNTAX.search(reply):
        return "tool-call syntax in the reply"
    if result.status == "ok" and REFUSAL.search(reply):
        return "a refusal after the tool succeeded"
    if result.status != "ok" and not ADMITS_FAILURE.search(reply):
        return "the reply does not say that the tool failed"
    key = key_result(call, result)
    if key is not None and not all(_normal(line) in _normal(reply) for line in key.splitlines()):
        return f"the reply omits the result {key!r}"
    return None


#: First and second person swapped when a saved fact is said back to the user.
_REFLECT: Final = {
    "i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
    "am": "are", "i'm": "you're", "i've": "you've", "i'll": "you'll", "i'd": "you'd",
    "you": "I", "your": "my", "yours": "mine", "yourself": "myself",
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z']+")


def reflect(text: str) -> str:
    """`text` as said back to its author: "my dog" -> "your dog", "I am" -> "you are"."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        return _REFLECT.get(word.lower(), word)

    return _WORD.sub(swap, text)


def confirmed_save(call: ToolCall) -> str | None:
    """The reply to a memory_save that succeeded: what will be remembered, in the user's
    terms (the 1.5B confused the persons: "You will remember that your favorite color ...");
    None for any other tool."""
    if call.tool != "memory_save":
        return None
    fact = str(call.arguments.get("content", "")).strip().rstrip(".!")
    return f"Noted. I will remember that {reflect(fact)}." if fact else None


def templated_reply(call: ToolCall, result: ToolResult) -> str:
    """A reply that states the result, for when the model's replies failed the check."""
    if silent(call, result):
        return "The code ran but printed nothing, so there is no result to report."
    if result.status != "ok":
        lines = (result.stderr or result.reason or result.stdout or "").strip().splitlines()
        detail = lines[-1] if lines else "no details"
        return f"{call.tool} did not succeed ({result.status}): {detail}"
    key = key_result(call, result)
    if key is not None:
        return f"The result is {key}." if "\n" not in key else f"The output is:\n{key}"
    if call.tool == "memory_save":
        return f"Noted, I will remember that: {call.arguments.get('content', '')}"
    if call.tool == "memory_load":
        return "Here is what I remember:\n" + result_text(call, result)
    if call.tool == "web_search":
        return "Here is what I found:\n" + result_text(call, result)
    return f"{call.tool} finished. Output:\n{result_text(call, result)}"


def _normal(text: str) -> str:
    return _SPACE.sub(" ", _THOUSANDS.sub("", text)).strip().lower()


def _bullets(items: list[str], empty: str) -> str:
    return "\n".join(f"- {item}" for item in items[:TOP_ITEMS]) if items else empty


def _memories(result: ToolResult) -> list[str]:
    rows = (result.data or {}).get("memories") or []
    return [str(r.get("content", "")) for r in rows if isinstance(r, dict) and r.get("content")]


def _hits(result: ToolResult) -> list[str]:
    rows = (result.data or {}).get("results") or []
    return [
        f"{r.get('title', '')}: {str(r.get('snippet', ''))[:300]} ({r.get('url', '')})"
        for r in rows
        if isinstance(r, dict)
    ]


def _attachments(result: ToolResult) -> str:
    names = ", ".join(a.name for a in result.attachments)
    return f"wrote the files {names}" if names else ""
