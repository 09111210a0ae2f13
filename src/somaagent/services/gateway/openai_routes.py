"""The OpenAI-compatible API: `POST /v1/chat/completions` and `GET /v1/models`.

Any OpenAI client talks to the platform with `base_url=<gateway>/v1` and a platform API key
as its key. Each request is a real turn (Kafka, the conversation worker, the policy gate,
the tool executor), answered whole or streamed as `chat.completion.chunk` server-sent
events. Refusals have OpenAI's error shape, `{"error": {"message", "type", "param",
"code"}}`: 400 bad request, 401 bad key, 404 unknown model or session, 409 the same request's
turn still runs, 429 a tenant limit (both with Retry-After), 503 the model or a backend is
down, 504 the turn outlasted its bound.
Sessions: openai_sessions.py; models: openai_models.py; tool activity: openai_stream.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.application import model_profiles
from somaagent.domain.errors import SomaError
from somaagent.domain.events import new_id
from somaagent.domain.stream import StreamUpdate
from somaagent.domain.turns import ConversationTurn
from somaagent.services.gateway.auth import Principal, key_from_headers, principal_for_key
from somaagent.services.gateway.errors import ApiError
from somaagent.services.gateway.openai_errors import as_openai, openai_error_response
from somaagent.services.gateway.openai_limits import TurnSlot, admit, take_slot
from somaagent.services.gateway.openai_models import ModelGate
from somaagent.services.gateway.openai_schema import (
    ChatCompletionRequest,
    OpenAiError,
    bad_request,
    chunk_body,
    completion_body,
    model_entry,
    parse_request,
    user_texts,
)
from somaagent.services.gateway.openai_sessions import (
    SESSION_HEADER,
    TURN_HEADER,
    answered,
    open_session,
    replayed_content,
    resend_mark,
    session_turns,
)
from somaagent.services.gateway.openai_stream import AnswerFolder
from somaagent.services.gateway.openai_turns import TurnWatch
from somaagent.services.gateway.runtime import Runtime

Handler = Callable[[Request], Awaitable[Response]]
SSE = "text/event-stream"
#: No caching, and no buffering by a proxy in front (nginx honours X-Accel-Buffering).
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The model gate's HTTP client, for the app's life (inside the runtime's lifespan)."""
    runtime: Runtime = app.state.runtime
    s = runtime.settings.openai
    async with httpx.AsyncClient(timeout=s.model_probe_timeout_s) as http:
        store = PostgresModelProfileStore(runtime.pool)
        app.state.openai_models = ModelGate(http, store, s.model_probe_ttl_s)
        yield


router = APIRouter(tags=["openai"], lifespan=_lifespan)


def _models(request: Request) -> ModelGate:
    gate: ModelGate = request.app.state.openai_models
    return gate


async def _guarded(request: Request, handler: Handler) -> Response:
    """The handler's answer, or its refusal in OpenAI's error shape."""
    try:
        return await handler(request)
    except (OpenAiError, ApiError, SomaError) as exc:
        return openai_error_response(as_openai(exc))


async def _principal(request: Request, runtime: Runtime) -> Principal:
    return await principal_for_key(runtime.keys, key_from_headers(request))


async def _body(request: Request, runtime: Runtime) -> tuple[ChatCompletionRequest, list[str]]:
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise bad_request("the request body is not valid JSON", "body", "invalid_json") from None
    body = parse_request(raw)
    users = user_texts(body)
    limit = runtime.settings.gateway.max_message_chars
    if len(users[-1]) > limit:
        param = "messages[-1].content"
        raise bad_request(f"{param}: longer than {limit} characters", param)
    return body, users


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    """The model profiles as OpenAI model objects (id = profile name; summary kept)."""

    async def handle(request: Request) -> Response:
        runtime = _runtime(request)
        await _principal(request, runtime)
        rows = await model_profiles.summary(PostgresModelProfileStore(runtime.pool))
        return JSONResponse({"object": "list", "data": [model_entry(r) for r in rows]})

    return await _guarded(request, handle)


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    """One turn, answered whole or streamed (`stream: true`) as OpenAI chunks."""
    return await _guarded(request, _chat)


async def _chat(request: Request) -> Response:
    runtime = _runtime(request)
    who = await _principal(request, runtime)
    await admit(runtime, who.tenant_id)
    body, users = await _body(request, runtime)
    profile = await _models(request).resolve(who.tenant_id, body.model)
    named = request.headers.get(SESSION_HEADER)
    session = await open_session(runtime, who, named) if named is not None else None
    if session is not None:
        prior = answered(await session_turns(runtime, session.session_id), users)
        if prior is not None:
            return _replay(body, session.session_id, prior, profile.name)
    resend = resend_mark(session.session_id, users) if session is not None else None
    slot = await take_slot(runtime, who.tenant_id, new_id(), resend)
    try:
        session = session or await open_session(runtime, who, None)
        watch = TurnWatch(runtime, session, slot.turn_id)
        await watch.start(who, users[-1], profile.name)
    except BaseException:
        await slot.release()
        raise
    headers = {SESSION_HEADER: session.session_id, TURN_HEADER: slot.turn_id}
    if body.stream:
        stream = _sse(watch, slot, profile.name, _include_usage(body))
        return StreamingResponse(stream, media_type=SSE, headers={**headers, **SSE_HEADERS})
    try:
        return await _whole(watch, profile.name, headers)
    finally:
        watch.close()
        await slot.release()


def _include_usage(body: ChatCompletionRequest) -> bool:
    return body.stream_options is not None and body.stream_options.include_usage


def _replay(
    body: ChatCompletionRequest, session_id: str, prior: ConversationTurn, model: str
) -> Response:
    """The stored answer of a resent question, in the form the request asked for."""
    turn_id, model = prior.correlation_id, prior.model_profile or model
    content, usage = replayed_content(prior), prior.usage.model_dump()
    headers = {SESSION_HEADER: session_id, TURN_HEADER: turn_id}
    if not body.stream:
        return JSONResponse(completion_body(turn_id, model, content, usage), headers=headers)

    async def chunks() -> AsyncIterator[bytes]:
        yield _data(chunk_body(turn_id, model, {"role": "assistant", "content": content}))
        yield _data(chunk_body(turn_id, model, {}, "stop"))
        if _include_usage(body):
            yield _data(chunk_body(turn_id, model, None, usage=usage))
        yield b"data: [DONE]\n\n"

    return StreamingResponse(chunks(), media_type=SSE, headers={**headers, **SSE_HEADERS})


def turn_failed(final: StreamUpdate) -> OpenAiError:
    reason = final.reason or "the turn failed"
    return OpenAiError(500, "server_error", "turn_failed", reason)


async def _whole(watch: TurnWatch, model: str, headers: dict[str, str]) -> Response:
    folder = AnswerFolder()
    async for update in watch.updates():
        folder.fold(update)
    final = folder.final
    assert final is not None
    if final.status == "error":
        raise turn_failed(final)
    body = completion_body(
        watch.correlation_id, final.model_profile or model, folder.content(), final.usage
    )
    return JSONResponse(body, headers=headers)


def _data(body: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def _sse(
    watch: TurnWatch, slot: TurnSlot, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """The turn as OpenAI chunks: role, content pieces, finish, usage (if asked), [DONE]."""
    turn_id = watch.correlation_id
    try:
        yield _data(chunk_body(turn_id, model, {"role": "assistant", "content": ""}))
        folder = AnswerFolder()
        async for update in watch.updates():
            piece = folder.fold(update)
            if piece:
                yield _data(chunk_body(turn_id, model, {"content": piece}))
        final = folder.final
        assert final is not None
        if final.status == "error":
            yield _data(turn_failed(final).body())
            return
        yield _data(chunk_body(turn_id, final.model_profile or model, {}, "stop"))
        if include_usage:
            yield _data(chunk_body(turn_id, model, None, usage=final.usage))
        yield b"data: [DONE]\n\n"
    except OpenAiError as exc:
        yield _data(exc.body())
    finally:
        watch.close()
        await slot.release()
