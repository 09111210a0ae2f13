"""Display-ready items of the operator console, built from stored events (pure).

Each stored event becomes one or more items; every label, number and text the console
page shows is formatted here, so the page only places strings in the DOM (textContent)
and the same data is available to any API client. Output text is made visible: control
characters (ANSI escapes, NUL) and undecodable bytes are written as escape text, and long
output carries a short preview the page shows collapsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from pydantic import BaseModel

from somaagent.domain.event_store import StoredEvent
from somaagent.domain.event_types import (
    MEMORY_OPERATION_RECORDED,
    MESSAGE_RECEIVED,
    POLICY_VERDICT_RECORDED,
    SESSION_CREATED,
    SUMMARY_CREATED,
    TOOL_CALL_REQUESTED,
    TOOL_RESULT_RECEIVED,
    TURN_COMPLETED,
)

PREVIEW_LINES: Final = 12
PREVIEW_CHARS: Final = 2000
MAX_TEXT: Final = 256 * 1024
#: C0 controls except tab and newline, DEL, C1 controls, and lone surrogates (bytes that
#: were not UTF-8, kept by surrogateescape). Output the sandbox decoded with
#: errors="replace" already shows such bytes as U+FFFD, which is left as it is.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class Block(BaseModel):
    """A text an item shows in a monospaced box; `preview` is shown while collapsed."""

    label: str
    text: str
    preview: str
    collapsed: bool
    lines: int


class Link(BaseModel):
    label: str
    href: str


class Item(BaseModel):
    """One line of a session's timeline."""

    seq: int
    turn: str | None
    kind: str
    at: str
    title: str
    status: str | None = None
    fields: list[tuple[str, str]] = []
    blocks: list[Block] = []
    links: list[Link] = []
    #: Set on items that change in place (a requeue item): a newer copy replaces the older.
    key: str | None = None


@dataclass(frozen=True)
class ProfileInfo:
    """What the timeline needs of the model profiles: name -> model, and the tenant's
    current primary dialogue profile (a turn answered by another one used a fallback)."""

    models: Mapping[str, str]
    primary: str | None
    #: turn -> the profile its message asked for (the OpenAI API's `model`), when one did
    requested: Mapping[str, str] = field(default_factory=dict)


def visible(text: str) -> str:
    """The text with control characters and undecodable bytes written as escapes."""
    return _INVISIBLE.sub(_escape, text[:MAX_TEXT])


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape of one byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def block(label: str, text: str) -> Block:
    shown = visible(text)
    lines = shown.split("\n")
    preview = "\n".join(lines[:PREVIEW_LINES])[:PREVIEW_CHARS]
    return Block(
        label=label,
        text=shown,
        preview=preview,
        collapsed=preview != shown,
        lines=len(lines),
    )


def seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f} s"


def _verdict_fields(p: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        ("decision", "allow" if p.get("allow") else "deny"),
        ("reasons", "; ".join(p.get("reasons") or []) or "-"),
        ("policy version", p.get("policy_version") or "-"),
        ("constitution hash", p.get("constitution_hash") or "-"),
        ("decision id", p.get("decision_id") or "-"),
        ("canary", "yes" if p.get("canary") else "no"),
    ]


def _message(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    links = [
        Link(label=f"{a['name']} ({a['size']} B)", href=f"/v1/attachments/{a['attachment_id']}")
        for a in p.get("attachments") or []
    ]
    return [
        {
            "kind": "user_message",
            "title": "User message",
            "fields": [("requested profile", str(p["model_profile"]))]
            if p.get("model_profile")
            else [],
            "links": links,
            "blocks": [block("text", str(p.get("text", "")))],
        }
    ]


def _tool_call(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    args = orjson.dumps(p.get("arguments") or {}, option=orjson.OPT_INDENT_2).decode()
    return [
        {
            "kind": "tool_call",
            "title": f"Tool call {p.get('tool')}",
            "fields": [
                ("request id", p.get("request_id") or "-"),
                ("timeout", seconds(p.get("timeout_s"))),
            ],
            "blocks": [block("arguments", args)],
        }
    ]


def _tool_result(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    exit_code = p.get("exit_code")
    fields = [
        ("status", str(p.get("status"))),
        ("exit status", "-" if exit_code is None else str(exit_code)),
        ("duration", seconds(p.get("duration_s"))),
        ("request id", p.get("request_id") or "-"),
    ]
    if p.get("reason"):
        fields.append(("reason", visible(str(p["reason"]))))
    if p.get("truncated"):
        fields.append(("truncated", "yes: the sandbox cut the output"))
    blocks = [block(name, str(p.get(name) or "")) for name in ("stdout", "stderr") if p.get(name)]
    if p.get("data"):
        blocks.append(block("data", orjson.dumps(p["data"], option=orjson.OPT_INDENT_2).decode()))
    links = [
        Link(label=f"{a['name']} ({a['size']} B)", href=f"/v1/attachments/{a['attachment_id']}")
        for a in p.get("attachments") or []
    ]
    return [
        {
            "kind": "tool_result",
            "title": f"Tool result {p.get('tool')}",
            "status": p.get("status"),
            "fields": fields,
            "blocks": blocks,
            "links": links,
        }
    ]


def _verdict(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    decision = "allow" if p.get("allow") else "deny"
    return [
        {
            "kind": "policy_verdict",
            "title": f"Policy verdict: {decision}",
            "status": decision,
            "fields": _verdict_fields(p),
        }
    ]


def _memory(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    verdict = p.get("verdict") or {}
    fields = [("namespace", str(p.get("namespace"))), ("key", str(p.get("key") or "-"))]
    if verdict:
        fields.append(("verdict", "allow" if verdict.get("allow") else "deny"))
    blocks = [block("content", str(p["content"]))] if p.get("content") else []
    return [
        {"kind": "memory", "title": f"Memory {p.get('kind')}", "fields": fields, "blocks": blocks}
    ]


def _flag(tag: Mapping[str, Any]) -> str:
    return " FLAGGED" if tag["score"] >= tag.get("threshold", 1.0) else ""


def slm_fields(slm: Mapping[str, Any]) -> list[tuple[str, str]]:
    intent = slm.get("intent") or {}
    slots = ", ".join(f"{s['name']}={s['value']!r}" for s in slm.get("slots") or [])
    tags = ", ".join(f"{t['category']} {t['score']:.2f}{_flag(t)}" for t in slm.get("safety") or [])
    return [
        ("intent", f"{intent['name']} ({intent['confidence']:.2f})" if intent else "-"),
        ("slots", slots or "-"),
        ("safety tags", tags or "-"),
        ("missing steps", ", ".join(slm.get("missing") or []) or "-"),
        ("slm model", slm.get("model_version") or "-"),
    ]


def model_call_fields(p: Mapping[str, Any], profiles: ProfileInfo) -> list[tuple[str, str]]:
    usage = p.get("usage") or {}
    profile = p.get("model_profile") or ""
    primary = profiles.requested.get(p.get("correlation_id") or "", profiles.primary)
    fallback = bool(profile) and primary is not None and profile != primary
    return [
        ("profile", profile or "-"),
        ("model", profiles.models.get(profile, "-")),
        ("prompt tokens", str(usage.get("prompt_tokens", 0))),
        ("completion tokens", str(usage.get("completion_tokens", 0))),
        ("TTFT", seconds(p.get("ttft_s"))),
        ("latency", seconds(p.get("latency_s"))),
        ("fallback used", f"yes (primary is {primary})" if fallback else "no"),
    ]


def _turn(p: Mapping[str, Any], profiles: ProfileInfo) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if p.get("slm"):
        items.append({"kind": "slm", "title": "SLM annotations", "fields": slm_fields(p["slm"])})
    items.append(
        {"kind": "model_call", "title": "Model call", "fields": model_call_fields(p, profiles)}
    )
    if p.get("status") == "error":
        items.append(
            {
                "kind": "error",
                "title": "Turn failed",
                "status": "failed",
                "blocks": [block("error", str(p.get("error") or ""))],
            }
        )
        return items
    fields = [
        ("answer path", p.get("answer_path") or "-"),
        ("routed by", p.get("routed_by") or "-"),
    ]
    items.append(
        {
            "kind": "assistant",
            "title": "Assistant answer",
            "status": "completed",
            "fields": fields,
            "blocks": [block("answer", str(p.get("assistant_message") or ""))],
        }
    )
    return items


def _summary(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    fields = [("through seq", str(p.get("through_seq"))), ("turns", str(p.get("turns_summarized")))]
    return [
        {
            "kind": "summary",
            "title": "History summary",
            "fields": fields,
            "blocks": [block("summary", str(p.get("summary") or ""))],
        }
    ]


def _session(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "kind": "session",
            "title": "Session created",
            "fields": [("title", str(p.get("title") or "-"))],
        }
    ]


Render = Callable[[Mapping[str, Any]], list[dict[str, Any]]]
RENDERERS: Final[dict[str, Render]] = {
    MESSAGE_RECEIVED: _message,
    TOOL_CALL_REQUESTED: _tool_call,
    TOOL_RESULT_RECEIVED: _tool_result,
    POLICY_VERDICT_RECORDED: _verdict,
    MEMORY_OPERATION_RECORDED: _memory,
    SUMMARY_CREATED: _summary,
    SESSION_CREATED: _session,
}


def event_items(stored: StoredEvent, profiles: ProfileInfo) -> list[Item]:
    """The timeline items of one stored event, in the order to show them."""
    event = stored.envelope
    if event.type == TURN_COMPLETED:
        parts = _turn(event.payload, profiles)
    elif event.type in RENDERERS:
        parts = RENDERERS[event.type](event.payload)
    else:
        raw = orjson.dumps(event.payload, option=orjson.OPT_INDENT_2).decode()
        parts = [{"kind": "other", "title": event.type, "blocks": [block("payload", raw)]}]
    at = event.occurred_at.isoformat()
    return [Item(seq=stored.seq, turn=event.correlation_id, at=at, **part) for part in parts]


def requeue_fields(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    request = item.get("request") or {}
    return [
        ("requeue id", str(item.get("id"))),
        ("status", str(item.get("status"))),
        ("action", f"{request.get('action')} {request.get('resource')}"),
        ("blocked by", "; ".join((item.get("verdict") or {}).get("reasons") or []) or "-"),
        ("resolved by", str(item.get("resolved_by") or "-")),
        ("resolution", str(item.get("resolution_reason") or "-")),
    ]
