"""What a user sees of one tool call: a compact, typed card built from the call and its result.

The conversation worker sends the card with the `tool_result` stream update, so the web
client and `soma chat` show the tool's status and the first lines of its output whatever
the model then writes. The card is a view: the full ToolResult stays in the event store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from somaagent.domain.tools import Attachment, ToolCall, ToolResult, ToolStatus

ARGUMENTS_CHARS: Final = 200
OUTPUT_CHARS: Final = 600
OUTPUT_LINES: Final = 8
#: The argument that says most about a call, by tool argument name, in order of preference.
_SUMMARY_KEYS: Final = ("code", "query", "url", "content")
ATTACHMENT_PATH: Final = "/v1/attachments/{attachment_id}"


class CardAttachment(BaseModel):
    """A file the tool produced, with the gateway path that downloads it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attachment_id: str
    name: str
    size: int = Field(ge=0)
    media_type: str
    url: str


class ToolCard(BaseModel):
    """One tool call as a user reads it: tool, status, time, arguments, output head, files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The call's request id: one card per call, also when a restarted turn re-sends it.
    request_id: str
    tool: str
    status: ToolStatus
    exit_code: int | None = None
    duration_s: float = Field(default=0.0, ge=0)
    #: The call's main argument (the code, the query, ...), at most ARGUMENTS_CHARS.
    arguments: str = ""
    #: The first lines of the output, or why the call failed; at most OUTPUT_CHARS.
    output: str = ""
    #: The output was cut, by the tool or by the card.
    truncated: bool = False
    attachments: list[CardAttachment] = Field(default_factory=list)


def tool_card(call: ToolCall, result: ToolResult) -> ToolCard:
    """The card of `call` answered by `result` (pure)."""
    output, cut = _head(_output_text(result))
    return ToolCard(
        request_id=result.request_id,
        tool=result.tool,
        status=result.status,
        exit_code=result.exit_code,
        duration_s=round(result.duration_s, 3),
        arguments=arguments_summary(call.arguments),
        output=output,
        truncated=result.truncated or cut,
        attachments=[card_attachment(a) for a in result.attachments],
    )


def card_attachment(attachment: Attachment) -> CardAttachment:
    return CardAttachment(
        attachment_id=attachment.attachment_id,
        name=attachment.name,
        size=attachment.size,
        media_type=attachment.media_type,
        url=ATTACHMENT_PATH.format(attachment_id=attachment.attachment_id),
    )


def arguments_summary(arguments: dict[str, Any]) -> str:
    """The most telling argument as text (the code, the query, the URL), else compact JSON."""
    for key in _SUMMARY_KEYS:
        value = arguments.get(key)
        if isinstance(value, str) and value.strip():
            return _clip(value.strip(), ARGUMENTS_CHARS)
    if not arguments:
        return ""
    text = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"), default=str)
    return _clip(text, ARGUMENTS_CHARS)


def _output_text(result: ToolResult) -> str:
    if result.status != "ok":
        return result.reason or _tail(result.stderr) or result.stdout
    rendered = _render_data(result.tool, result.data)
    if rendered:
        return rendered
    return result.stdout if result.stdout.strip() else result.stderr


def _render_data(tool: str, data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    render = _DATA_RENDERERS.get(tool)
    return render(data) if render is not None else ""


def _search_hits(data: dict[str, Any]) -> str:
    hits = [h for h in data.get("results") or [] if isinstance(h, dict)]
    lines = [f"{h.get('title') or h.get('url', '')} — {h.get('url', '')}" for h in hits]
    return "\n".join(lines) or "no results"


def _memories(data: dict[str, Any]) -> str:
    hits = [h for h in data.get("memories") or [] if isinstance(h, dict)]
    lines = [f"• {h.get('content', '')}" for h in hits]
    return "\n".join(lines) or "nothing remembered"


def _saved_memory(data: dict[str, Any]) -> str:
    operation = data.get("operation")
    content = operation.get("content") if isinstance(operation, dict) else None
    return f"saved: {content}" if content else ""


_DATA_RENDERERS: Final[dict[str, Callable[[dict[str, Any]], str]]] = {
    "web_search": _search_hits,
    "memory_load": _memories,
    "memory_save": _saved_memory,
}


def _head(text: str) -> tuple[str, bool]:
    """The first OUTPUT_LINES lines and OUTPUT_CHARS characters of text; whether it was cut."""
    stripped = text.strip("\n")
    lines = stripped.splitlines()
    head = "\n".join(lines[:OUTPUT_LINES])
    clipped = _clip(head, OUTPUT_CHARS)
    return clipped, len(lines) > OUTPUT_LINES or clipped != head


def _tail(text: str) -> str:
    """The last OUTPUT_LINES lines of an error stream (a traceback ends with its cause)."""
    return "\n".join(text.strip("\n").splitlines()[-OUTPUT_LINES:])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
