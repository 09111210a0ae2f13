"""Bench the local chat models through the client: TTFT, decode speed, concurrent streams.

    .venv/bin/python -m bench.llm [--quick]

Streams real completions from the stack's `llm` (Qwen2.5-Coder-0.5B) and `llm-small`
(SmolLM2-135M) servers with the project's OpenAI-compatible client. Each request gets a
distinct prompt so no answer is served from a cache. Prints figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import httpx

from somaagent.adapters.llm import OpenAIChatModel
from somaagent.devstack.llm_server import DIALOGUE_MODEL, FALLBACK_MODEL
from somaagent.domain.llm import ChatRequest, ChatResult, ModelProfile
from somaagent.settings import CommonSettings

TOPICS = ["lighthouses", "volcanoes", "bees", "trains", "glaciers", "owls", "bridges", "tea"]


def request(i: int, max_tokens: int) -> ChatRequest:
    topic = TOPICS[i % len(TOPICS)]
    return ChatRequest(
        messages=[{"role": "user", "content": f"Write a paragraph about {topic} (#{i})."}],
        max_tokens=max_tokens,
        temperature=0.7,
    )


async def one(model: OpenAIChatModel, req: ChatRequest) -> ChatResult:
    async for item in model.stream(req):
        if isinstance(item, ChatResult):
            return item
    raise RuntimeError("stream ended without a result")


def decode_rate(result: ChatResult) -> float:
    decode_s = result.latency_s - (result.ttft_s or 0.0)
    return (result.usage.completion_tokens - 1) / decode_s if decode_s > 0 else 0.0


async def sequential(model: OpenAIChatModel, n: int, max_tokens: int) -> dict[str, float]:
    results = [await one(model, request(i, max_tokens)) for i in range(n)]
    ttfts = [r.ttft_s or 0.0 for r in results]
    return {
        "ttft_p50_ms": round(statistics.median(ttfts) * 1000, 1),
        "ttft_max_ms": round(max(ttfts) * 1000, 1),
        "decode_tok_s": round(statistics.median(decode_rate(r) for r in results), 1),
    }


async def concurrent(model: OpenAIChatModel, n: int, max_tokens: int) -> dict[str, float]:
    started = time.monotonic()
    results = await asyncio.gather(*(one(model, request(100 + i, max_tokens)) for i in range(n)))
    wall = time.monotonic() - started
    tokens = sum(r.usage.completion_tokens for r in results)
    return {
        "streams": n,
        "complete": sum(1 for r in results if r.deltas > 0),
        "per_stream_tok_s": round(statistics.median(decode_rate(r) for r in results), 1),
        "aggregate_tok_s": round(tokens / wall, 1),
    }


async def run(quick: bool) -> dict[str, Any]:
    settings = CommonSettings()
    n, max_tokens = (3, 32) if quick else (10, 128)
    figures: dict[str, Any] = {"bench": "llm", "quick": quick, "max_tokens": max_tokens}
    async with httpx.AsyncClient() as client:
        for key, url, model_name in (
            ("dialogue", settings.llm.dialogue_url(), DIALOGUE_MODEL),
            ("fallback", settings.llm.fallback_url(), FALLBACK_MODEL),
        ):
            profile = ModelProfile(name=key, role="dialogue", base_url=url, model=model_name)
            model = OpenAIChatModel(profile, client, settings.llm)
            await one(model, request(999, 4))  # warm-up
            figures[key] = await sequential(model, n, max_tokens)
        dialogue = ModelProfile(
            name="dialogue", role="dialogue", base_url=settings.llm.dialogue_url(), model="m"
        )
        figures["dialogue_concurrent"] = await concurrent(
            OpenAIChatModel(dialogue, client, settings.llm), 2 if quick else 4, max_tokens
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    args = parser.parse_args()
    figures = asyncio.run(run(args.quick))
    for key in ("dialogue", "fallback", "dialogue_concurrent"):
        print(f"{key}: {figures[key]}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
