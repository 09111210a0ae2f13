"""The OpenAI-compatible client against the stack's real llama.cpp servers."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import httpx
import orjson
import pytest

from somaagent.adapters.llm import OpenAIChatModel
from somaagent.domain.errors import BackendUnavailableError
from somaagent.domain.llm import ChatDelta, ChatRequest, ChatResult, ModelProfile
from somaagent.settings import CommonSettings

from .conftest import OwnServer, free_port

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def ask(text: str, **kwargs: object) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **kwargs)  # type: ignore[arg-type]


async def collect(
    model: OpenAIChatModel, request: ChatRequest
) -> tuple[list[tuple[float, ChatDelta]], ChatResult]:
    deltas: list[tuple[float, ChatDelta]] = []
    async for item in model.stream(request):
        if isinstance(item, ChatResult):
            return deltas, item
        deltas.append((time.monotonic(), item))
    raise AssertionError("the stream ended without a ChatResult")


async def test_stream_arrives_incrementally_and_usage_adds_up(
    dialogue_profile: ModelProfile, http: httpx.AsyncClient, settings: CommonSettings
) -> None:
    model = OpenAIChatModel(dialogue_profile, http, settings.llm)
    request = ask("Count from 1 to 100, separated by commas.", max_tokens=24, temperature=0.0)

    deltas, result = await collect(model, request)

    assert len(deltas) > 1
    assert deltas[-1][0] - deltas[0][0] > 0.01  # tokens arrived over time, not in one piece
    assert result.text == "".join(d.text for _, d in deltas)
    assert result.text.strip()
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 24
    assert result.usage.prompt_tokens > 5
    assert result.deltas == len(deltas)
    assert result.ttft_s is not None
    assert 0 < result.ttft_s <= result.latency_s
    assert result.profile == "test-dialogue"
    # the server's own tokenizer agrees with the usage it reported
    base = dialogue_profile.url.removesuffix("/v1")
    tokens = (await http.post(f"{base}/tokenize", json={"content": result.text})).json()
    assert len(tokens["tokens"]) in {23, 24, 25}


async def test_complete_honours_a_json_schema(
    dialogue_profile: ModelProfile, http: httpx.AsyncClient, settings: CommonSettings
) -> None:
    schema = {
        "type": "object",
        "properties": {"intent": {"type": "string", "enum": ["travel", "weather", "other"]}},
        "required": ["intent"],
    }
    model = OpenAIChatModel(dialogue_profile, http, settings.llm)

    result = await model.complete(
        ask("Classify the intent: 'book me a flight to Paris'", max_tokens=24, json_schema=schema)
    )

    answer = orjson.loads(result.text)
    assert answer["intent"] in {"travel", "weather", "other"}
    assert result.usage.completion_tokens > 0
    assert result.ttft_s is None


async def test_forced_tool_call_is_assembled_from_deltas(
    dialogue_profile: ModelProfile, http: httpx.AsyncClient, settings: CommonSettings
) -> None:
    model = OpenAIChatModel(dialogue_profile, http, settings.llm)
    request = ask(
        "What is the weather in Oslo?",
        max_tokens=32,
        temperature=0.0,
        tools=[WEATHER_TOOL],
        force_tool_call=True,
    )

    deltas, result = await collect(model, request)

    assert sum(len(d.tool_calls) for _, d in deltas) > 1  # the call came in fragments
    assert result.finish_reason == "tool_calls"
    assert [c.name for c in result.tool_calls] == ["get_weather"]
    assert result.tool_calls[0].parsed_arguments()["city"].lower() == "oslo"
    assert result.tool_calls[0].id


async def test_nothing_listening_is_backend_unavailable_after_retries(
    http: httpx.AsyncClient, settings: CommonSettings
) -> None:
    port = free_port()
    profile = ModelProfile(
        name="nowhere", role="dialogue", base_url=f"http://127.0.0.1:{port}/v1", model="m"
    )
    model = OpenAIChatModel(profile, http, settings.llm, retries=2, backoff_s=0.05)

    with pytest.raises(BackendUnavailableError, match="nowhere: cannot connect"):
        await collect(model, ask("hi", max_tokens=4))
    with pytest.raises(BackendUnavailableError):
        await model.complete(ask("hi", max_tokens=4))


async def slot_busy(http: httpx.AsyncClient, server: OwnServer) -> bool:
    slots = (await http.get(f"http://127.0.0.1:{server.port}/slots")).json()
    return any(slot["is_processing"] for slot in slots)


async def test_closing_the_stream_stops_generation_on_the_server(
    own_dialogue_server: OwnServer, http: httpx.AsyncClient, settings: CommonSettings
) -> None:
    profile = ModelProfile(name="own", role="dialogue", base_url=own_dialogue_server.url, model="m")
    model = OpenAIChatModel(profile, http, settings.llm)
    request = ask("Count from 1 to 500, separated by commas.", max_tokens=600)

    async with aclosing(model.stream(request)) as stream:
        first = await anext(stream)
        assert isinstance(first, ChatDelta)
        assert await slot_busy(http, own_dialogue_server)
    # 600 tokens at ~40 tok/s would keep the slot busy for many seconds
    deadline = time.monotonic() + 3.0
    while await slot_busy(http, own_dialogue_server):
        assert time.monotonic() < deadline, "the server kept generating after the client left"
        await asyncio.sleep(0.1)
