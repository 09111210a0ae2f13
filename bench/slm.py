"""Bench the SLM pre-processing: what the shipped model does on data it never saw, and how
long one message takes.

    .venv/bin/python -m bench.slm [--quick]

Product model (both modes): the default persona's model trained exactly as `soma slm train`
does (persona NLU + routing set train part for intents; safety on the train folds of
neuralchemy, CLINC150, BANKING77, NLU++, the persona's messages; thresholds chosen on the
validation folds), then scored on the test folds: `benign_flag_rate` (CLINC150 val split
in-scope and oos_val, BANKING77 and NLU++ held-out parts, neuralchemy core-validation
benign rows, routing.yaml's test part and holdout.yaml) and `injection_recall`
(neuralchemy core-validation injections and the routing files' held-out injection
attempts), routing precision / recall and intent ECE on routing.yaml's test part plus
holdout.yaml (`holdout_*`: holdout.yaml alone, written after development).

Both safety tags (`prompt_injection`, `jailbreak_tag_*`), per source (s-labs' validation
split included), and the flags on the agent evaluation's messages (`eval_*`: its ordinary
turns and its unsafe ones; never trained on).

Public intent and slot sets: CLINC150 (train -> val; four out-of-scope scores compared, each
threshold picked on held-out train: softmax confidence, k-nearest-neighbour cosine,
Mahalanobis, confidence + neighbours), BANKING77 (5-fold), NLU++ slots (folds 0-9 ->
10-15); `--quick` uses per-class subsets. Latency: the whole pipeline on one message at a
time, idle and while the local chat model (127.0.0.1:18090) streams, with per-stage p95s
from the result's timings. Embedding throughput: 20,000 utterances (2,000 with `--quick`) in
one call straight to the embedding server. Other embeddings come from the stack's embedding
server, cached on disk by text hash.
Prints figures to stderr, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Awaitable
from typing import Any

import httpx
import numpy as np

from bench.slm_accuracy import banking77, clinc150, nlupp_slots, note, product
from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.application.slm import CachedEmbedder, SlmModel, SlmPipeline
from somaagent.application.slm import datasets as ds
from somaagent.settings import CommonSettings

#: Issue 15's budget for the SLM pipeline p95 while the chat model streams.
P95_BUDGET_MS = 20.0
#: Issue 15's embedding throughput goal (sentences per second on a 20k batch).
THROUGHPUT_GOAL = 500.0
THROUGHPUT_BATCH = 20_000


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples) * 1000
    return {f"p{q}": round(float(np.percentile(arr, q)), 2) for q in (50, 95, 99)}


async def measure(pipeline: SlmPipeline, texts: list[str]) -> dict[str, Any]:
    samples, degraded = [], 0
    stages: dict[str, list[float]] = defaultdict(list)
    for text in texts:
        started = time.perf_counter()
        result = await pipeline.analyse(text)
        samples.append(time.perf_counter() - started)
        degraded += result.degraded
        for stage, seconds in result.timings.items():
            stages[stage].append(seconds)
    stage_p95 = {s: percentiles(v)["p95"] for s, v in sorted(stages.items())}
    return {**percentiles(samples), "stage_p95": stage_p95, "degraded": degraded, "n": len(texts)}


async def chat_load(url: str, stop: asyncio.Event) -> int:
    """Stream chat completions back to back until told to stop; returns chunks received."""
    chunks = 0
    body = {
        "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper."}],
        "max_tokens": 400,
        "stream": True,
    }
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0)) as client:
        while not stop.is_set():
            async with client.stream("POST", f"{url}/chat/completions", json=body) as resp:
                async for line in resp.aiter_lines():
                    chunks += line.startswith("data:")
                    if stop.is_set():
                        break
    return chunks


async def chat_up(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            (await client.get(url.removesuffix("/v1") + "/health")).raise_for_status()
    except httpx.HTTPError:
        return False
    return True


async def latency(settings: CommonSettings, model: SlmModel, quick: bool) -> dict[str, Any]:
    texts = [t for t, _ in ds.clinc150(ds.default_datasets_dir())["val"]][:: 60 if quick else 15]
    out: dict[str, Any] = {}
    async with EmbeddingClient(settings.embedding.url(), timeout_s=2.0) as client:
        pipeline = SlmPipeline(model, client, embed_timeout_s=1.0)
        await measure(pipeline, texts[:5])  # warm-up: connections, first allocations
        idle = await measure(pipeline, texts)
        out["latency_idle_ms"], out["pipeline_p95_idle_ms"] = idle, idle["p95"]
        note(f"latency idle: {idle}")
        url = settings.llm.dialogue_url()
        if not await chat_up(url):
            out["latency_under_chat_load_ms"] = "chat server not up"
            return out
        stop = asyncio.Event()
        load = asyncio.create_task(chat_load(url, stop))
        await asyncio.sleep(2.0)  # let generation start
        loaded = await measure(pipeline, texts)
        stop.set()
        with contextlib.suppress(httpx.HTTPError):
            out["chat_chunks_during_load"] = await load
        out["latency_under_chat_load_ms"], out["pipeline_p95_load_ms"] = loaded, loaded["p95"]
        out["pipeline_p95_load_budget_ms"] = P95_BUDGET_MS
        out["pipeline_p95_load_within_budget"] = loaded["p95"] <= P95_BUDGET_MS
        note(f"latency under chat load: {loaded}")
    return out


def throughput_texts(n: int) -> list[str]:
    """`n` distinct real utterances: CLINC150 (train, val, oos), then BANKING77."""
    root = ds.default_datasets_dir()
    clinc = ds.clinc150(root)
    texts = [t for part in ("train", "val", "oos_train", "oos_val") for t, _ in clinc[part]]
    texts += [t for t, _ in ds.banking77(root)]
    return list(dict.fromkeys(texts))[:n]


async def throughput(settings: CommonSettings, quick: bool) -> dict[str, Any]:
    """One `embed` call of THROUGHPUT_BATCH utterances (a tenth with --quick) straight to
    the embedding server (no cache), as training and bulk indexing send them."""
    texts = throughput_texts(THROUGHPUT_BATCH // 10 if quick else THROUGHPUT_BATCH)
    async with EmbeddingClient(settings.embedding.url(), timeout_s=120.0) as client:
        await client.embed(texts[:64])  # warm-up: connections
        started = time.perf_counter()
        vectors = await client.embed(texts)
        seconds = time.perf_counter() - started
        model = await client.model_id()
    if len(vectors) != len(texts):
        raise RuntimeError(f"{len(vectors)} vectors for {len(texts)} texts")
    rate = len(texts) / seconds
    note(f"embedding throughput: {len(texts)} in {seconds:.1f}s = {rate:.0f}/s")
    return {
        "embed_batch": len(texts),
        "embed_seconds": round(seconds, 2),
        "embed_per_s": round(rate, 1),
        "embed_goal_per_s": THROUGHPUT_GOAL,
        "embed_server_threads": settings.embedding.threads,
        "embed_model": model,
    }


async def timed_step(name: str, step: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    figures = await step
    note(f"{name}: done in {time.monotonic() - started:.0f}s")
    return figures


async def main(quick: bool) -> dict[str, Any]:
    settings = CommonSettings()
    root = ds.default_datasets_dir()
    figures: dict[str, Any] = {"bench": "slm", "quick": quick}
    async with EmbeddingClient(settings.embedding.url(), timeout_s=120.0) as client:
        cache = CachedEmbedder(
            client, settings.cache_dir / "embeddings" / "all-minilm-l6-v2.sqlite"
        )
        started = time.monotonic()
        model, shipped = await product(root, cache)
        note(f"product model: {shipped} ({time.monotonic() - started:.0f}s)")
        figures.update(shipped)
        figures.update(await timed_step("clinc150", clinc150(root, cache, quick)))
        figures.update(await timed_step("banking77", banking77(root, cache, quick)))
        figures.update(nlupp_slots(root, quick))
        note("nlupp: done")
    figures.update(await latency(settings, model, quick))
    figures.update(await throughput(settings, quick))
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small subsets, under a minute")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.quick))))
