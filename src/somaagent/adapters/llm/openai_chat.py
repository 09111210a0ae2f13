"""An OpenAI-compatible chat client (llama.cpp server locally, vLLM in production).

Streams SSE deltas with usage (`stream_options.include_usage`), measures time to first
token and total latency, retries only before the first token arrives, assembles tool-call
deltas into complete calls and closes the HTTP stream when the consumer stops reading.
A profile with `api_key_env` sends `Authorization: Bearer KEY`, the key read from that
environment variable when the model is built (a missing variable fails each request with
a ModelError naming it; nothing is sent without the key).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from somaagent.adapters.llm.payload import build_payload, finish_reason, parse_tool_deltas
from somaagent.domain.errors import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ModelError,
)
from somaagent.domain.llm import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    ModelProfile,
    ToolCallAssembler,
    Usage,
)
from somaagent.settings import LlmSettings
from somaagent.telemetry.spans import outgoing

#: Errors worth another attempt (or the next profile) while nothing has been streamed yet.
RETRIABLE_BEFORE_FIRST_TOKEN = (BackendUnavailableError, BackendTimeoutError)


class _StreamState:
    """What one streamed answer has accumulated so far."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first_token_at: float | None = None
        self.parts: list[str] = []
        self.tools = ToolCallAssembler()
        self.usage = Usage()
        self.finish: str | None = None
        self.model = ""
        self.deltas = 0

    def absorb(self, chunk: dict[str, Any]) -> ChatDelta | None:
        if "error" in chunk:
            raise ModelError(f"model server error in stream: {chunk['error']}")
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            usage = chunk["usage"]
            self.usage = Usage(
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
            )
        choices = chunk.get("choices") or []
        if not choices:
            return None
        choice = choices[0]
        self.finish = choice.get("finish_reason") or self.finish
        delta = choice.get("delta") or {}
        text = delta.get("content") or ""
        tools = parse_tool_deltas(delta.get("tool_calls"))
        if not text and not tools:
            return None
        for tool in tools:
            self.tools.add(tool)
        self.parts.append(text)
        self.deltas += 1
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        return ChatDelta(text=text, tool_calls=tools)

    def result(self, profile: str, fallback_model: str) -> ChatResult:
        now = time.monotonic()
        return ChatResult(
            text="".join(self.parts),
            tool_calls=self.tools.calls(),
            finish_reason=finish_reason(self.finish),
            usage=self.usage,
            ttft_s=None if self.first_token_at is None else self.first_token_at - self.started,
            latency_s=now - self.started,
            model=self.model or fallback_model,
            profile=profile,
            deltas=self.deltas,
        )


class OpenAIChatModel:
    """One profile's endpoint. Share one httpx.AsyncClient between many of these."""

    def __init__(
        self,
        profile: ModelProfile,
        client: httpx.AsyncClient,
        settings: LlmSettings,
        *,
        retries: int = 1,
        backoff_s: float = 0.2,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """`environ` is where `profile.api_key_env` is looked up (the process's by default)."""
        self.profile = profile
        self._client = client
        self._settings = settings
        self._retries = retries
        self._backoff_s = backoff_s
        self._api_key = api_key(profile, os.environ if environ is None else environ)

    @property
    def profile_name(self) -> str:
        return self.profile.name

    @property
    def _timeout(self) -> httpx.Timeout:
        s = self._settings
        return httpx.Timeout(s.read_timeout_s, connect=s.connect_timeout_s)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta | ChatResult, None]:
        payload = build_payload(self.profile, request, stream=True)
        started = time.monotonic()
        for attempt in range(self._retries + 1):
            state = _StreamState(started)
            try:
                async for delta in self._attempt(payload, state):
                    yield delta
            except RETRIABLE_BEFORE_FIRST_TOKEN:
                if state.deltas or attempt == self._retries:
                    raise
                await asyncio.sleep(self._backoff_s * (attempt + 1))
                continue
            yield state.result(self.profile.name, self.profile.model)
            return

    async def _attempt(
        self, payload: dict[str, Any], state: _StreamState
    ) -> AsyncIterator[ChatDelta]:
        first_token_s = self._settings.first_token_timeout_s
        try:
            async with (
                asyncio.timeout(first_token_s) as deadline,
                self._post(payload, stream=True) as resp,
            ):
                async for chunk in _sse_chunks(resp):
                    delta = state.absorb(chunk)
                    if delta is not None:
                        deadline.reschedule(None)
                        yield delta
        except TimeoutError as exc:
            raise BackendTimeoutError(
                f"{self.profile.name}: no first token within {first_token_s:.0f}s"
            ) from exc

    async def complete(self, request: ChatRequest) -> ChatResult:
        """One non-streaming answer (the summarizer and JSON-schema steps use this)."""
        payload = build_payload(self.profile, request, stream=False)
        started = time.monotonic()
        for attempt in range(self._retries + 1):
            try:
                async with (
                    asyncio.timeout(self._settings.first_token_timeout_s),
                    self._post(payload, stream=False) as resp,
                ):
                    body = orjson.loads(await resp.aread())
            except TimeoutError as exc:
                error: BackendError = BackendTimeoutError(f"{self.profile.name}: timed out")
                error.__cause__ = exc
            except RETRIABLE_BEFORE_FIRST_TOKEN as exc:
                error = exc
            else:
                return self._whole_result(body, started)
            if attempt == self._retries:
                raise error
            await asyncio.sleep(self._backoff_s * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _whole_result(self, body: dict[str, Any], started: float) -> ChatResult:
        state = _StreamState(started)
        choice = (body.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        state.absorb(
            {
                "model": body.get("model"),
                "usage": body.get("usage"),
                "choices": [{"finish_reason": choice.get("finish_reason"), "delta": message}],
            }
        )
        result = state.result(self.profile.name, self.profile.model)
        return result.model_copy(update={"ttft_s": None})

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.profile.api_key_env is None:
            return headers
        if self._api_key is None:
            raise ModelError(
                f"{self.profile.name}: its API key variable {self.profile.api_key_env} "
                "is not set in this process's environment"
            )
        headers["authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        return headers

    @asynccontextmanager
    async def _post(
        self, payload: dict[str, Any], *, stream: bool
    ) -> AsyncIterator[httpx.Response]:
        """The call in a client span (the model call of the turn's trace)."""
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": self.profile.model,
            "soma.model.profile": self.profile.name,
            "server.address": self.profile.url,
        }
        with outgoing(f"chat {self.profile.name}", attributes) as (_, trace_headers):
            async with self._send(payload, stream=stream, trace_headers=trace_headers) as resp:
                yield resp

    @asynccontextmanager
    async def _send(
        self, payload: dict[str, Any], *, stream: bool, trace_headers: dict[str, str]
    ) -> AsyncIterator[httpx.Response]:
        url = f"{self.profile.url}/chat/completions"
        name = self.profile.name
        req = self._client.build_request(
            "POST",
            url,
            content=orjson.dumps(payload),
            headers={**self._headers(), **trace_headers},
            timeout=self._timeout,
        )
        try:
            resp = await self._client.send(req, stream=stream)
        except httpx.ConnectError as exc:
            raise BackendUnavailableError(f"{name}: cannot connect to {url}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(f"{name}: {url} timed out: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"{name}: {url} failed: {exc!r}") from exc
        try:
            await _raise_for_status(resp, name)
            yield resp
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(f"{name}: read from {url} timed out") from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"{name}: stream from {url} broke: {exc!r}") from exc
        finally:
            await resp.aclose()


def api_key(profile: ModelProfile, environ: Mapping[str, str]) -> SecretStr | None:
    """The key `profile.api_key_env` names, or None (no variable named, or it is empty)."""
    if profile.api_key_env is None:
        return None
    value = environ.get(profile.api_key_env, "")
    return SecretStr(value) if value else None


async def _raise_for_status(resp: httpx.Response, name: str) -> None:
    if resp.status_code < 400:
        return
    body = (await resp.aread()).decode("utf-8", "replace")[:500]
    if resp.status_code in {429, 502, 503, 504}:
        raise BackendUnavailableError(f"{name}: overloaded or down ({resp.status_code}): {body}")
    if resp.status_code >= 500:
        raise BackendError(f"{name}: server error {resp.status_code}: {body}")
    raise ModelError(f"{name}: request refused ({resp.status_code}): {body}")


async def _sse_chunks(resp: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in resp.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ModelError(f"model server sent a line that is not JSON: {data[:200]}") from exc
        if isinstance(chunk, dict):
            yield chunk


__all__ = ["RETRIABLE_BEFORE_FIRST_TOKEN", "OpenAIChatModel"]
