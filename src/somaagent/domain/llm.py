"""Chat models: profiles, requests, streamed deltas, results and the ChatModel port.

A ModelProfile names one OpenAI-compatible endpoint and model with its parameters and a
fallback chain (profile names tried in order when this one is down or overloaded). A
ChatModel streams ChatDelta items and ends the stream with one ChatResult.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from somaagent.domain.errors import ValidationError

ModelRole = Literal["slm", "dialogue", "summarizer", "embedding"]
MODEL_ROLES: tuple[ModelRole, ...] = ("slm", "dialogue", "summarizer", "embedding")
PROFILE_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
ENV_VAR_NAME = r"^[A-Z_][A-Z0-9_]{0,127}$"
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "cancelled", "unknown"]


class ModelParameters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=1, le=32_768)
    context_window: int = Field(default=2048, ge=256, le=1_048_576)


class ModelProfile(BaseModel):
    """One model endpoint as the platform addresses it.

    Any OpenAI-compatible server works (llama.cpp, vLLM, Ollama, a hosted API). A server
    that wants a key gets it from the environment variable `api_key_env` of the process
    that calls it, sent as `Authorization: Bearer KEY`; the key itself never sits in a
    profile, the seed file or the database.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=PROFILE_NAME)
    role: ModelRole
    base_url: HttpUrl = Field(description="OpenAI-compatible base, e.g. http://host:port/v1")
    model: str = Field(min_length=1, max_length=200)
    parameters: ModelParameters = ModelParameters()
    fallback: tuple[str, ...] = Field(default=(), description="profile names, tried in order")
    is_default: bool = Field(default=False, description="the role's default profile")
    api_key_env: str | None = Field(
        default=None,
        pattern=ENV_VAR_NAME,
        description="environment variable holding the endpoint's API key (bearer token)",
    )

    @field_validator("fallback")
    @classmethod
    def _no_self_fallback(cls, value: tuple[str, ...], info: Any) -> tuple[str, ...]:
        if info.data.get("name") in value:
            raise ValueError("a profile cannot fall back to itself")
        return value

    @property
    def url(self) -> str:
        return str(self.base_url).rstrip("/")


class ProfileOverride(BaseModel):
    """A tenant that uses another profile for one role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str = Field(min_length=1, max_length=128)
    role: ModelRole
    profile: str = Field(pattern=PROFILE_NAME)


class ChatRequest(BaseModel):
    """What to ask a chat model. None means "use the profile's parameter"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stop: list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    #: Force a tool call the way small models follow (tool_choice "required", one call at
    #: a time, assistant prefill "<tool_call>\n"); needs `tools`.
    force_tool_call: bool = False
    #: A JSON Schema the answer must validate against (response_format json_schema).
    json_schema: dict[str, Any] | None = None
    seed: int | None = None
    #: OpenAI's presence_penalty: subtracted once from the logit of every token already
    #: written (a mild guard against a small model repeating itself until max_tokens).
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)

    @field_validator("messages")
    @classmethod
    def _roles_present(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, msg in enumerate(value):
            if msg.get("role") not in {"system", "user", "assistant", "tool"}:
                raise ValueError(f"messages[{i}].role must be system, user, assistant or tool")
        return value


class ToolCallDelta(BaseModel):
    """A fragment of a tool call as the stream delivers it."""

    model_config = ConfigDict(frozen=True)

    index: int = 0
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ModelToolCall(BaseModel):
    """A complete tool call assembled from its deltas."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        try:
            value = orjson.loads(self.arguments or "{}")
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"tool_calls.{self.name}.arguments", f"not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValidationError(f"tool_calls.{self.name}.arguments", "not a JSON object")
        return value


class ChatDelta(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatResult(BaseModel):
    """The end of a stream (or a whole non-streaming answer)."""

    model_config = ConfigDict(frozen=True)

    text: str
    tool_calls: tuple[ModelToolCall, ...] = ()
    finish_reason: FinishReason = "unknown"
    usage: Usage = Usage()
    ttft_s: float | None = Field(default=None, description="time to first token")
    latency_s: float = Field(ge=0)
    model: str
    profile: str
    #: Profiles tried before this one answered (down or overloaded), in order.
    skipped_profiles: tuple[str, ...] = ()
    deltas: int = Field(default=0, ge=0)


class ToolCallAssembler:
    """Joins streamed ToolCallDelta fragments into complete calls, by index."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, delta: ToolCallDelta) -> None:
        call = self._calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
        if delta.id:
            call["id"] = delta.id
        if delta.name:
            call["name"] += delta.name
        call["arguments"] += delta.arguments

    def calls(self) -> tuple[ModelToolCall, ...]:
        out = []
        for index in sorted(self._calls):
            call = self._calls[index]
            if not call["name"]:
                raise ValidationError(f"tool_calls[{index}].name", "the model sent no name")
            out.append(
                ModelToolCall(
                    id=call["id"] or f"call_{index}",
                    name=call["name"],
                    arguments=call["arguments"],
                )
            )
        return tuple(out)


class ChatModel(Protocol):
    """An OpenAI-compatible chat endpoint (one profile, or a fallback chain)."""

    @property
    def profile_name(self) -> str: ...

    def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta | ChatResult, None]:
        """Deltas as they arrive; the last item is the ChatResult."""
        ...

    async def complete(self, request: ChatRequest) -> ChatResult: ...


class ModelProfileStore(Protocol):
    """Where profiles and per-tenant overrides live (PostgreSQL)."""

    async def upsert_profiles(self, profiles: list[ModelProfile]) -> int: ...

    async def set_override(self, override: ProfileOverride) -> None: ...

    async def list_profiles(self) -> list[ModelProfile]: ...

    async def list_overrides(self, tenant_id: str | None = None) -> list[ProfileOverride]: ...
