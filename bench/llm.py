"""Bench chat models through the client: TTFT, decode and prompt speed, concurrent streams.

    .venv/bin/python -m bench.llm [--quick] [--only dialogue,large]
    .venv/bin/python -m bench.llm --url http://host:8000/v1 --model NAME [--api-key-env VAR]

Streams real completions with the project's OpenAI-compatible client from the stack's
`llm` (dialogue: Qwen2.5-Coder-0.5B), `llm-small` (fallback: SmolLM2-135M) and `llm-large`
(large: Qwen2.5-Coder-1.5B) servers, or from any one OpenAI-compatible endpoint given by
--url/--model (with its key from --api-key-env). Per model: time to first token for a short
prompt, decode tokens/s, prompt-processing tokens/s for a long prompt (prompt tokens / its
TTFT), and TTFT for a short question after a long system prompt the server has cached (the
first such request is cold, the rest warm). Every other prompt starts with this run's random
tag and its own number, so neither an answer nor a prompt prefix comes from a cache (beyond
the chat template's first tokens), in this run or from an earlier one. Then concurrent
streams on the first model. Prints figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
from typing import Any

import httpx

from somaagent.adapters.llm import OpenAIChatModel
from somaagent.devstack.llm_server import DIALOGUE_MODEL, FALLBACK_MODEL, LARGE_MODEL
from somaagent.domain.llm import ChatRequest, ChatResult, ModelProfile
from somaagent.settings import CommonSettings

TOPICS = ["lighthouses", "volcanoes", "bees", "trains", "glaciers", "owls", "bridges", "tea"]
RUN_TAG = secrets.token_hex(4)
STACK_MODELS = ("dialogue", "fallback", "large")


def request(i: int, max_tokens: int) -> ChatRequest:
    topic = TOPICS[i % len(TOPICS)]
    return ChatRequest(
        messages=[{"role": "user", "content": f"[{RUN_TAG}-{i}] Write a paragraph about {topic}."}],
        max_tokens=max_tokens,
        temperature=0.7,
    )


def notes(i: int, sentences: int) -> str:
    """About 20 tokens per sentence, distinct from its first token on."""
    lines = [f"[{RUN_TAG}-{i}]"] + [
        f"Note {i}-{n}: the {TOPICS[n % len(TOPICS)]} log has entry {n * 7 + i}."
        for n in range(sentences)
    ]
    return "\n".join(lines)


def long_request(i: int, sentences: int) -> ChatRequest:
    text = notes(i, sentences) + "\nWhich entry number is the largest? Answer with the number."
    return ChatRequest(messages=[{"role": "user", "content": text}], max_tokens=8, temperature=0)


def prefixed_request(sentences: int, question: int) -> ChatRequest:
    """The same long system prompt each time (a persona's), then a short new question."""
    return ChatRequest(
        messages=[
            {"role": "system", "content": notes(900, sentences)},
            {"role": "user", "content": f"Question {question}: what is note {question}?"},
        ],
        max_tokens=8,
        temperature=0,
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


async def prompt_speed(model: OpenAIChatModel, n: int, sentences: int) -> dict[str, float]:
    results = [await one(model, long_request(500 + i, sentences)) for i in range(n)]
    rates = [r.usage.prompt_tokens / r.ttft_s for r in results if r.ttft_s]
    return {
        "long_prompt_tokens": results[0].usage.prompt_tokens,
        "long_ttft_p50_ms": round(statistics.median(r.ttft_s or 0.0 for r in results) * 1000, 1),
        "prompt_tok_s": round(statistics.median(rates), 1),
    }


async def warm_prefix(model: OpenAIChatModel, n: int, sentences: int) -> dict[str, float]:
    """TTFT when the server's prompt cache already holds the system prompt (cache_prompt)."""
    cold = await one(model, prefixed_request(sentences, 0))
    warm = [await one(model, prefixed_request(sentences, q)) for q in range(1, n + 1)]
    return {
        "prefix_prompt_tokens": cold.usage.prompt_tokens,
        "prefix_cold_ttft_ms": round((cold.ttft_s or 0.0) * 1000, 1),
        "prefix_warm_ttft_p50_ms": round(
            statistics.median(r.ttft_s or 0.0 for r in warm) * 1000, 1
        ),
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


def profiles(args: argparse.Namespace, settings: CommonSettings) -> list[ModelProfile]:
    """The endpoints to bench: the one given by --url, else the stack's chosen servers."""
    if args.url:
        return [
            ModelProfile(
                name="given",
                role="dialogue",
                base_url=args.url,
                model=args.model,
                api_key_env=args.api_key_env,
            )
        ]
    llm = settings.llm
    known = {
        "dialogue": (llm.dialogue_url(), DIALOGUE_MODEL),
        "fallback": (llm.fallback_url(), FALLBACK_MODEL),
        "large": (llm.large_url(), LARGE_MODEL),
    }
    return [
        ModelProfile(name=key, role="dialogue", base_url=known[key][0], model=known[key][1])
        for key in args.only
    ]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = CommonSettings()
    n, max_tokens, sentences = (3, 32, 8) if args.quick else (10, 128, 32)
    figures: dict[str, Any] = {"bench": "llm", "quick": args.quick, "max_tokens": max_tokens}
    async with httpx.AsyncClient() as client:
        models = [OpenAIChatModel(p, client, settings.llm) for p in profiles(args, settings)]
        for model in models:
            await one(model, request(999, 4))  # warm-up: loads pages, fills no cache we use
            figures[model.profile_name] = {
                "model": model.profile.model,
                **await sequential(model, n, max_tokens),
                **await prompt_speed(model, 2 if args.quick else 3, sentences),
                **await warm_prefix(model, 3 if args.quick else 5, sentences),
            }
        figures["concurrent"] = {
            "model": models[0].profile.model,
            **await concurrent(models[0], 2 if args.quick else 4, max_tokens),
        }
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    parser.add_argument(
        "--only",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=list(STACK_MODELS),
        help=f"stack servers to bench, comma-separated from {', '.join(STACK_MODELS)}",
    )
    parser.add_argument("--url", help="bench this OpenAI-compatible base URL instead")
    parser.add_argument("--model", default="default", help="model name to send with --url")
    parser.add_argument("--api-key-env", help="environment variable with --url's API key")
    args = parser.parse_args()
    unknown = set(args.only) - set(STACK_MODELS)
    if unknown or not args.only:
        parser.error(f"--only takes {', '.join(STACK_MODELS)}; got {', '.join(args.only)}")
    return args


def main() -> None:
    args = parse_args()
    figures = asyncio.run(run(args))
    for key, value in figures.items():
        if isinstance(value, dict):
            print(f"{key}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
