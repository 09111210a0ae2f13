"""The OpenAI chat-completions wire format: request bodies and pieces of responses."""

from __future__ import annotations

from typing import Any, cast

from somaagent.domain.errors import ValidationError
from somaagent.domain.llm import ChatRequest, FinishReason, ModelProfile, ToolCallDelta

#: The assistant prefill that makes small Qwen models open a native tool call.
TOOL_CALL_PREFILL = "<tool_call>\n"
_FINISH: frozenset[str] = frozenset({"stop", "length", "tool_calls", "content_filter"})


def build_payload(profile: ModelProfile, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body for POST /chat/completions; request values win over the profile's."""
    params = profile.parameters
    payload: dict[str, Any] = {
        "model": profile.model,
        "messages": [dict(m) for m in request.messages],
        "max_tokens": request.max_tokens or params.max_tokens,
        "temperature": params.temperature if request.temperature is None else request.temperature,
    }
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    if request.stop:
        payload["stop"] = list(request.stop)
    if request.seed is not None:
        payload["seed"] = request.seed
    if request.presence_penalty is not None:
        payload["presence_penalty"] = request.presence_penalty
    if request.tools:
        payload["tools"] = list(request.tools)
    if request.force_tool_call:
        _force_tool_call(payload, request)
    if request.json_schema is not None:
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": request.json_schema, "strict": True},
        }
    return payload


def _force_tool_call(payload: dict[str, Any], request: ChatRequest) -> None:
    if not request.tools:
        raise ValidationError("force_tool_call", "needs at least one entry in tools")
    if request.json_schema is not None:
        raise ValidationError("force_tool_call", "cannot be combined with json_schema")
    payload["tool_choice"] = "required"
    payload["parallel_tool_calls"] = False
    payload["messages"].append({"role": "assistant", "content": TOOL_CALL_PREFILL})


def parse_tool_deltas(raw: object) -> tuple[ToolCallDelta, ...]:
    """`delta.tool_calls` (or a whole message's `tool_calls`) as ToolCallDelta items."""
    if not isinstance(raw, list):
        return ()
    out: list[ToolCallDelta] = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        function = item.get("function") or {}
        out.append(
            ToolCallDelta(
                index=int(item.get("index", position)),
                id=item.get("id") or None,
                name=function.get("name") or None,
                arguments=function.get("arguments") or "",
            )
        )
    return tuple(out)


def finish_reason(raw: str | None) -> FinishReason:
    if raw in _FINISH:
        return cast(FinishReason, raw)
    return "unknown"
