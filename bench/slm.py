"""Bench the SLM pre-processing: accuracy on public datasets and per-message latency.

    .venv/bin/python -m bench.slm [--quick]

Accuracy: CLINC150 (train on train, report on val: in-scope accuracy, out-of-scope
recall), BANKING77 (5-fold on train), NLU++ slots (train folds 0-9, report 10-15, span
F1), prompt injection (s-labs: train on train, report on validation). Embeddings come
from the stack's embedding server, cached on disk by text hash (the first full run embeds
~45k sentences). Latency: the whole pipeline on one message at a time, uncached, idle and
while the local chat model (127.0.0.1:18090) streams in the background when it is up.
Prints figures to stderr, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.slm_accuracy import banking77, clinc150, nlupp_slots, note, prompt_injection
from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.application.slm import CachedEmbedder, SlmPipeline, load_nlu, train_persona
from somaagent.application.slm import datasets as ds
from somaagent.application.slm.training import subset
from somaagent.settings import CommonSettings, repo_root


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples) * 1000
    return {f"p{q}": round(float(np.percentile(arr, q)), 2) for q in (50, 95, 99)}


async def measure(pipeline: SlmPipeline, texts: list[str]) -> dict[str, float]:
    samples, degraded = [], 0
    for text in texts:
        started = time.perf_counter()
        result = await pipeline.analyse(text)
        samples.append(time.perf_counter() - started)
        degraded += result.degraded
    return {**percentiles(samples), "degraded": degraded, "n": len(texts)}


async def client_get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=1.0) as client:
        return await client.get(url)


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


async def latency(
    settings: CommonSettings, root: Path, cache: CachedEmbedder, quick: bool
) -> dict[str, Any]:
    safety = subset(ds.prompt_injection(root, "train"), 1000 if quick else None)
    model = await train_persona(
        load_nlu(repo_root() / "personas" / "default" / "nlu.yml"), safety, "bench", cache
    )
    texts = [t for t, _ in ds.clinc150(root)["val"]][:: 60 if quick else 15]
    out: dict[str, Any] = {}
    async with EmbeddingClient(settings.embedding.url(), timeout_s=2.0) as client:
        pipeline = SlmPipeline(model, client, embed_timeout_s=1.0)
        await measure(pipeline, texts[:5])  # warm-up: connections, first allocations
        out["latency_idle_ms"] = await measure(pipeline, texts)
        note(f"latency idle: {out['latency_idle_ms']}")
        url = settings.llm.dialogue_url()
        try:
            (await client_get(url.removesuffix("/v1") + "/health")).raise_for_status()
        except httpx.HTTPError:
            out["latency_under_chat_load_ms"] = "chat server not up"
            return out
        stop = asyncio.Event()
        load = asyncio.create_task(chat_load(url, stop))
        await asyncio.sleep(2.0)  # let generation start
        out["latency_under_chat_load_ms"] = await measure(pipeline, texts)
        stop.set()
        with contextlib.suppress(httpx.HTTPError):
            out["chat_chunks_during_load"] = await load
        note(f"latency under chat load: {out['latency_under_chat_load_ms']}")
    return out


async def main(quick: bool) -> dict[str, Any]:
    settings = CommonSettings()
    root = ds.default_datasets_dir()
    figures: dict[str, Any] = {"bench": "slm", "quick": quick}
    async with EmbeddingClient(settings.embedding.url(), timeout_s=120.0) as client:
        cache = CachedEmbedder(
            client, settings.cache_dir / "embeddings" / "all-minilm-l6-v2.sqlite"
        )
        for name, step in (
            ("clinc150", clinc150(root, cache, quick)),
            ("banking77", banking77(root, cache, quick)),
            ("prompt_injection", prompt_injection(root, cache, quick)),
        ):
            started = time.monotonic()
            figures.update(await step)
            note(f"{name}: done in {time.monotonic() - started:.0f}s")
        figures.update(nlupp_slots(root, quick))
        note("nlupp: done")
        figures.update(await latency(settings, root, cache, quick))
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small subsets, under a minute")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.quick))))
