"""Side by side with a peer: what LiteLLM's proxy and what SomaAgent's platform add per
streamed request, both against direct calls to the same llama.cpp server.

    scripts/litellm.sh                       # once: LiteLLM's proxy in .state/litellm-venv
    .venv/bin/python -m bench.peer [--quick] [--rounds N]

Three paths to the stack's dialogue server (127.0.0.1:18090, Qwen2.5-Coder-0.5B), each a
streamed `POST /v1/chat/completions` with the same short prompt, temperature 0 and
MAX_TOKENS, in rounds: direct and litellm sent at the same instant (paired), then platform:
  direct    the model server itself;
  litellm   LiteLLM's proxy (pinned in scripts/litellm.sh, started here on a free port with
            one worker, its model list pointing at the same server);
  platform  a gateway and a conversation worker of its own (`soma gateway`, `soma worker
            conversation`), on a schema and Kafka topics of this run (as bench/turns.py
            does, so no one else's turns queue in front), a fresh tenant on the 0.5B
            profile and a fresh session per request: gateway -> Kafka -> worker (SLM,
            the persona's prompt, policy) -> the model -> Kafka -> the gateway's SSE.
Overhead per request, time to the first content chunk:
  litellm   median over rounds of litellm TTFT - direct TTFT, the two sent together with
            the same body (the server decodes them in the same batches, so the
            difference is the proxy's even while other work keeps the server busy);
  platform  first content at the client - the model's own TTFT as the worker measured it
            (the `completed` event's latencies.ttft_s, read from a WebSocket on the same
            session), so the persona's longer prompt is not counted as overhead.
`litellm_alone`: the same two requests one after the other (alternating which goes first),
overhead = litellm TTFT p50 - direct TTFT p50; cleaner on a quiet machine, where the
paired figure also holds up to one decode step the server spends on the direct request
first. Also the whole request (to `[DONE]`) for litellm against direct. Prints figures, the ratio
platform / litellm, then one JSON line. Fails loudly when a server or LiteLLM is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect

from bench.agent_eval_client import provision_tenant
from bench.openai_facade import MODEL, start_gateway
from bench.turns import drop_schema, free_port, prepare_schema, quantile, start_worker
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.constants import dlq_topic
from somaagent.services.gateway import GatewaySettings
from somaagent.settings import repo_root

LITELLM = repo_root() / ".state" / "litellm-venv" / "bin" / "litellm"
PROMPT = "Write one sentence about the sea."
MAX_TOKENS = 12
ALIAS = "peer-dialogue"


@dataclass
class Sample:
    ttft: float
    total: float
    model_ttft: float | None = None


@dataclass
class Paths:
    samples: dict[str, list[Sample]] = field(
        default_factory=lambda: {
            "direct": [],
            "litellm": [],
            "platform": [],
            "direct_alone": [],
            "litellm_alone": [],
        }
    )


def body(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": True,
    }


async def stream(
    http: httpx.AsyncClient, url: str, payload: dict[str, Any], headers: dict[str, str]
) -> Sample:
    """One streamed completion; once more when a kept-alive connection the server had
    already closed fails before any response (llama.cpp closes idle connections)."""
    try:
        return await stream_once(http, url, payload, headers)
    except httpx.RemoteProtocolError:
        return await stream_once(http, url, payload, headers)


async def stream_once(
    http: httpx.AsyncClient, url: str, payload: dict[str, Any], headers: dict[str, str]
) -> Sample:
    """Time to the first content chunk and to `[DONE]`."""
    first: float | None = None
    started = time.perf_counter()
    async with http.stream("POST", url, json=payload, headers=headers) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"{url} answered {resp.status_code}: {(await resp.aread())[:200]!r}")
        async for line in resp.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = orjson.loads(line[6:]).get("choices") or [{}]
            if first is None and choices[0].get("delta", {}).get("content"):
                first = time.perf_counter()
    end = time.perf_counter()
    if first is None:
        raise RuntimeError(f"{url} streamed no content")
    return Sample(first - started, end - started)


def litellm_config(folder: Path, api_base: str) -> Path:
    path = folder / "litellm.yaml"
    config = {
        "model_list": [
            {
                "model_name": ALIAS,
                "litellm_params": {
                    "model": "openai/dialogue",
                    "api_base": api_base,
                    "api_key": "none",
                },
            }
        ],
        "litellm_settings": {"telemetry": False, "drop_params": True},
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


async def start_litellm(port: int, config: Path) -> asyncio.subprocess.Process:
    if not LITELLM.exists():
        raise RuntimeError(f"{LITELLM} is missing: run scripts/litellm.sh first")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    args = [
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    proc = await asyncio.create_subprocess_exec(
        str(LITELLM),
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            if proc.returncode is not None:
                break
            try:
                if (
                    await http.get(f"http://127.0.0.1:{port}/health/liveliness")
                ).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    proc.terminate()
    err = await proc.stderr.read() if proc.stderr else b""
    raise RuntimeError(f"LiteLLM's proxy did not become ready within 60 s: {err[-500:]!r}")


async def platform_turn(http: httpx.AsyncClient, base: str, key: str) -> Sample:
    """One facade request on a fresh session, with a WebSocket reading its `completed`."""
    session = (await http.post(f"{base}/v1/sessions", json={})).json()["session_id"]
    ws = await connect(f"{base.replace('http', 'ws', 1)}/v1/sessions/{session}/stream?key={key}")
    await ws.recv()  # ready
    completed: dict[str, Any] = {}

    async def read_completed() -> None:
        async for frame in ws:
            update = orjson.loads(frame).get("event", {}).get("payload", {})
            if update.get("status") in ("completed", "error"):
                completed.update(update)
                return

    reader = asyncio.create_task(read_completed())
    try:
        headers = {"X-Soma-Session": session}
        sample = await stream(http, f"{base}/v1/chat/completions", body(MODEL), headers)
        await asyncio.wait_for(reader, 300)
    finally:
        reader.cancel()
        await ws.close()
    if completed.get("status") != "completed":
        raise RuntimeError(f"the platform's turn ended with {completed.get('status')}")
    model_ttft = float((completed.get("latencies") or {}).get("ttft_s") or 0.0)
    if model_ttft <= 0:
        path = completed.get("answer_path")
        raise RuntimeError(f"the platform's turn made no model call it timed (path {path})")
    sample.model_ttft = model_ttft
    return sample


def ms(values: list[float], q: float) -> float:
    return round(quantile(values, q) * 1000, 2)


def summarise(paths: Paths) -> dict[str, Any]:
    s = paths.samples
    out: dict[str, Any] = {"rounds": len(s["direct"]), "max_tokens": MAX_TOKENS}
    for name, samples in s.items():
        out[f"{name}_ttft_p50_ms"] = ms([x.ttft for x in samples], 0.5)
        out[f"{name}_ttft_p95_ms"] = ms([x.ttft for x in samples], 0.95)
        out[f"{name}_total_p50_ms"] = ms([x.total for x in samples], 0.5)
    with_model = [x for x in s["platform"] if x.model_ttft is not None]
    platform_added = [x.ttft - (x.model_ttft or 0.0) for x in with_model]
    out["platform_model_ttft_p50_ms"] = ms([x.model_ttft or 0.0 for x in with_model], 0.5)
    pairs = list(zip(s["litellm"], s["direct"], strict=True))
    out["litellm_overhead_ttft_p50_ms"] = ms([a.ttft - b.ttft for a, b in pairs], 0.5)
    out["litellm_overhead_ttft_p95_ms"] = ms([a.ttft - b.ttft for a, b in pairs], 0.95)
    out["litellm_overhead_total_p50_ms"] = ms([a.total - b.total for a, b in pairs], 0.5)
    alone = out["litellm_alone_ttft_p50_ms"] - out["direct_alone_ttft_p50_ms"]
    out["litellm_alone_overhead_ttft_p50_ms"] = round(alone, 2)
    out["platform_overhead_ttft_p50_ms"] = platform = ms(platform_added, 0.5)
    out["platform_overhead_ttft_p95_ms"] = ms(platform_added, 0.95)
    paired = out["litellm_overhead_ttft_p50_ms"]
    out["overhead_ratio_platform_to_litellm"] = round(platform / paired, 2) if paired > 0 else None
    out["overhead_ratio_platform_to_litellm_alone"] = (
        round(platform / alone, 2) if alone > 0 else None
    )
    return out


def isolate(run_id: str) -> tuple[str, dict[str, str]]:
    """A schema and topics of this run's own, so that its turns queue behind no one else's
    and the stack's worker never sees them; the env the gateway and worker start with."""
    schema = f"bench_peer_{run_id}"
    inbound, outbound = f"bench.peer.{run_id}.inbound", f"bench.peer.{run_id}.outbound"
    # Tool topics of its own too: on the stack's, the worker's new consumer group would first
    # replay every tool result the stack ever produced.
    tool_requests, tool_results = (
        f"bench.peer.{run_id}.tool-requests",
        f"bench.peer.{run_id}.tool-results",
    )
    return schema, {
        "SOMA_POSTGRES__DB_SCHEMA": schema,
        "SOMA_GATEWAY__INBOUND_TOPIC": inbound,
        "SOMA_GATEWAY__OUTBOUND_TOPIC": outbound,
        "SOMA_TOPICS__INBOUND": inbound,
        "SOMA_TOPICS__OUTBOUND": outbound,
        "SOMA_TOPICS__TOOL_REQUESTS": tool_requests,
        "SOMA_TOPICS__TOOL_RESULTS": tool_results,
        "SOMA_WORKER__GROUP_ID": f"bench-peer-{run_id}",
        "SOMA_WORKER__ANSWER_MAX_TOKENS": str(MAX_TOKENS),
    }


async def run(rounds: int) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    schema, env = isolate(run_id)
    os.environ.update(env)  # this process's settings and the children's
    settings = GatewaySettings()
    await prepare_schema(settings, schema)
    names = [
        env[f"SOMA_TOPICS__{t}"] for t in ("INBOUND", "OUTBOUND", "TOOL_REQUESTS", "TOOL_RESULTS")
    ]
    await ensure_topics(settings.kafka.bootstrap, [*names, *map(dlq_topic, names)], 4)
    procs: list[asyncio.subprocess.Process] = []
    try:
        key = await provision_tenant(settings, f"bench-peer-{run_id}", MODEL)
        metrics_port, gw_port, ll_port = free_port(), free_port(), free_port()
        os.environ["SOMA_WORKER__METRICS_PORT"] = str(metrics_port)
        procs.append(await start_worker(dict(os.environ), metrics_port))
        with tempfile.TemporaryDirectory() as folder:
            config = litellm_config(Path(folder), settings.llm.dialogue_url())
            procs.append(await start_litellm(ll_port, config))
            procs.append(await start_gateway(gw_port))
            litellm = f"http://127.0.0.1:{ll_port}"
            return await measure(rounds, settings.llm.dialogue_url(), litellm, gw_port, key)
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()
        await drop_schema(settings, schema)


async def measure(rounds: int, direct: str, litellm: str, gw_port: int, key: str) -> dict[str, Any]:
    base = f"http://127.0.0.1:{gw_port}"
    paths = Paths()
    auth = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(timeout=300) as http,
        httpx.AsyncClient(headers=auth, timeout=300) as authed,
    ):
        calls: dict[str, Callable[[], Awaitable[Sample]]] = {
            "direct": lambda: stream(http, f"{direct}/chat/completions", body("dialogue"), {}),
            "litellm": lambda: stream(http, f"{litellm}/v1/chat/completions", body(ALIAS), {}),
            "platform": lambda: platform_turn(authed, base, key),
        }
        for call in calls.values():  # warm-up, not recorded: connections, caches, prompts
            await call()
        for i in range(rounds):
            # direct and litellm at the same instant: the server decodes both in the same
            # batches, so their difference is the proxy's, whatever else the server is doing
            direct_s, litellm_s = await asyncio.gather(calls["direct"](), calls["litellm"]())
            paths.samples["direct"].append(direct_s)
            paths.samples["litellm"].append(litellm_s)
            paths.samples["platform"].append(await calls["platform"]())
            for name in ("direct", "litellm")[:: 1 if i % 2 else -1]:
                paths.samples[f"{name}_alone"].append(await calls[name]())
            note(
                f"round {i + 1}/{rounds}: "
                + ", ".join(
                    f"{k} ttft {v[-1].ttft * 1000:.0f} ms" for k, v in paths.samples.items()
                )
            )
    return {"bench": "peer", **summarise(paths)}


def note(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 rounds (under a minute)")
    parser.add_argument("--rounds", type=int, default=30, help="rounds (one request per path)")
    args = parser.parse_args()
    result = asyncio.run(run(6 if args.quick else args.rounds))
    for k, v in result.items():
        print(f"{k:>36}: {v}")
    print(json.dumps(result))
