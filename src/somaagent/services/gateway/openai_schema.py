"""The OpenAI chat API's shapes as the gateway speaks them: request, answers, chunks, errors.

Only what a turn can honour is accepted. A request's trailing message must be the user's
text; earlier messages are the conversation the client remembers (compared with the
session, never sent again). Parameters of the OpenAI API that steer sampling (temperature,
top_p, max_tokens, ...) are accepted and ignored: the model profile decides them. Client-side
tools (`tools`, `functions`) and `n` > 1 are refused with 400, since the platform's own
tools run server-side and a turn has one answer.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from somaagent.domain.text_checks import text_problem

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "not_found_error",
    "rate_limit_error",
    "server_error",
    "service_unavailable",
    "timeout",
]


class OpenAiError(Exception):
    """An OpenAI-shaped refusal: status, type, code, message, param; optional Retry-After."""

    def __init__(
        self,
        status: int,
        type_: ErrorType,
        code: str,
        message: str,
        param: str | None = None,
        *,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.code = status, type_, code
        self.message, self.param, self.retry_after_s = message, param, retry_after_s

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(
    message: str, param: str | None = None, code: str = "invalid_request"
) -> OpenAiError:
    return OpenAiError(400, "invalid_request_error", code, message, param)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1)
    tools: list[Any] | None = None
    functions: list[Any] | None = None


def parse_request(raw: Any) -> ChatCompletionRequest:
    """The request body, or a 400 naming the first field at fault."""
    if not isinstance(raw, dict):
        raise bad_request("the request body must be a JSON object", "body")
    try:
        request = ChatCompletionRequest.model_validate(raw)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or "body"
        raise bad_request(f"{param}: {first['msg']}", param) from exc
    if request.n != 1:
        raise bad_request("n: a turn has one answer; only n=1 is supported", "n")
    if request.tools or request.functions:
        param = "tools" if request.tools else "functions"
        raise bad_request(
            f"{param}: client-side tools are not supported; the platform's tools run "
            "server-side and their activity appears in the answer's content",
            param,
        )
    return request


def message_text(message: ChatMessage, index: int) -> str:
    """The text of a message (a string, or its text parts joined); 400 for anything else."""
    param = f"messages[{index}].content"
    content = message.content
    if isinstance(content, list):
        texts = []
        for part in content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad_request(f"{param}: only text content parts are supported", param)
            texts.append(part["text"])
        content = "\n".join(texts)
    if not content or not content.strip():
        raise bad_request(f"{param}: the text is empty", param)
    problem = text_problem(content)
    if problem is not None:
        raise bad_request(f"{param}: {problem}", param)
    return content


def user_texts(request: ChatCompletionRequest) -> list[str]:
    """The texts of the user's messages in order; the last message must be the user's."""
    last = len(request.messages) - 1
    if request.messages[last].role != "user":
        raise bad_request(
            f"messages[{last}].role: the last message must be the user's (a turn answers it)",
            f"messages[{last}].role",
        )
    return [message_text(m, i) for i, m in enumerate(request.messages) if m.role == "user"]


def usage_body(usage: dict[str, int] | None) -> dict[str, int]:
    prompt = int((usage or {}).get("prompt_tokens", 0))
    completion = int((usage or {}).get("completion_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_body(
    turn_id: str, model: str, content: str, usage: dict[str, int] | None
) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{turn_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": usage_body(usage),
    }


def chunk_body(
    turn_id: str,
    model: str,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One `chat.completion.chunk`; with `usage` (and no delta), the final usage chunk."""
    body: dict[str, Any] = {
        "id": f"chatcmpl-{turn_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage_body(usage)
    return body


def model_entry(summary: dict[str, Any]) -> dict[str, Any]:
    """A model profile as an OpenAI model object (the profile's summary fields kept)."""
    return {
        "id": summary["name"],
        "object": "model",
        "created": 0,
        "owned_by": "somaagent",
        **summary,
    }
