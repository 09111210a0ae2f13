"""Bench what the OpenAI-compatible API adds on top of the native path (POST + WebSocket).

    .venv/bin/python -m bench.openai_facade [--quick] [--turns N]

Starts a gateway of its own (`soma gateway` on a free port) on the running local stack,
whose worker, tool executor and models answer the turns, and a fresh tenant on the 0.5B
dialogue profile. After one unrecorded warm-up turn per path, each round opens two fresh
sessions and runs the same short prompt once per path, alternating which goes first:
  accept    time until a message is accepted: native POST /v1/sessions/{id}/messages (202
            after the Kafka publish) vs the facade's first SSE byte (sent after its auth,
            rate and turn limits, model check, resend check and publish);
  delivery  during the facade's turn a WebSocket watches the same session: for each
            streamed delta, facade SSE arrival minus WebSocket arrival (same hub, same
            update; what the facade's road adds per delta);
  turn      time to the first content and to the end of the turn, native vs facade
            (the model dominates these; they show the facade's cost in proportion).
Prints figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.agent_eval_client import provision_tenant
from bench.turns import free_port, quantile
from somaagent.services.gateway import GatewaySettings

MODEL = "dialogue-qwen-0.5b"
PROMPTS = ["Say hi.", "Name a colour.", "Give me one word for happy.", "Say yes."]


async def start_gateway(port: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "SOMA_LOG_LEVEL": "warning"}
    soma = str(Path(sys.executable).with_name("soma"))
    proc = await asyncio.create_subprocess_exec(soma, "gateway", "--port", str(port), env=env)
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(150):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the gateway did not become ready within 30 s")


@dataclass
class Figures:
    accept: dict[str, list[float]] = field(default_factory=lambda: {"native": [], "facade": []})
    first: dict[str, list[float]] = field(default_factory=lambda: {"native": [], "facade": []})
    total: dict[str, list[float]] = field(default_factory=lambda: {"native": [], "facade": []})
    delivery: list[float] = field(default_factory=list)


@dataclass
class Watcher:
    """A WebSocket on one session: arrival time of every streamed delta, and the end."""

    ws: ClientConnection
    deltas: list[float] = field(default_factory=list)
    first: float | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        async for frame in self.ws:
            now = time.perf_counter()
            update = orjson.loads(frame).get("event", {}).get("payload", {})
            if update.get("status") == "streaming" and update.get("delta"):
                self.deltas.append(now)
                self.first = self.first or now
            if update.get("status") in ("completed", "error"):
                self.ended.set()


async def watch(base: str, key: str, session: str) -> tuple[Watcher, asyncio.Task[None]]:
    ws = await connect(f"{base.replace('http', 'ws', 1)}/v1/sessions/{session}/stream?key={key}")
    await ws.recv()  # ready
    watcher = Watcher(ws)
    return watcher, asyncio.create_task(watcher.read())


async def native_turn(http: httpx.AsyncClient, base: str, key: str, text: str, f: Figures) -> None:
    session = (await http.post("/v1/sessions", json={})).json()["session_id"]
    watcher, task = await watch(base, key, session)
    started = time.perf_counter()
    accepted = await http.post(f"/v1/sessions/{session}/messages", json={"text": text})
    f.accept["native"].append(time.perf_counter() - started)
    accepted.raise_for_status()
    await asyncio.wait_for(watcher.ended.wait(), 120)
    f.total["native"].append(time.perf_counter() - started)
    f.first["native"].append((watcher.first or time.perf_counter()) - started)
    await watcher.ws.close()
    await task


async def facade_turn(http: httpx.AsyncClient, base: str, key: str, text: str, f: Figures) -> None:
    session = (await http.post("/v1/sessions", json={})).json()["session_id"]
    watcher, task = await watch(base, key, session)
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": True}
    pieces: list[float] = []
    accepted: float | None = None
    started = time.perf_counter()
    headers = {"X-Soma-Session": session}
    async with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            now = time.perf_counter()
            if not line.startswith("data: "):
                continue
            accepted = accepted or now
            if line == "data: [DONE]":
                break
            choices = orjson.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                pieces.append(now)
    f.total["facade"].append(time.perf_counter() - started)
    f.accept["facade"].append((accepted or time.perf_counter()) - started)
    f.first["facade"].append((pieces[0] if pieces else time.perf_counter()) - started)
    await asyncio.wait_for(watcher.ended.wait(), 30)
    f.delivery += [sse - ws for sse, ws in zip(pieces, watcher.deltas, strict=False)]
    await watcher.ws.close()
    await task


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(quantile(values, 0.5) * 1000, 2),
        "p99_ms": round(quantile(values, 0.99) * 1000, 2),
    }


async def main(turns: int) -> dict[str, Any]:
    settings = GatewaySettings()
    key = await provision_tenant(settings, f"bench-oai-{uuid.uuid4().hex[:8]}", MODEL)
    port = free_port()
    gateway = await start_gateway(port)
    base = f"http://127.0.0.1:{port}"
    figures = Figures()
    try:
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=180) as http:
            warm = Figures()  # one unrecorded turn per path: connections, caches, probes
            for path in (native_turn, facade_turn):
                await path(http, base, key, PROMPTS[0], warm)
            for i in range(turns):
                text = PROMPTS[i % len(PROMPTS)]
                paths = [native_turn, facade_turn] if i % 2 == 0 else [facade_turn, native_turn]
                for path in paths:
                    await path(http, base, key, text, figures)
    finally:
        gateway.terminate()
        await gateway.wait()
    result: dict[str, Any] = {"bench": "openai_facade", "turns_per_path": turns}
    for name, series in (
        ("accept", figures.accept),
        ("first_content", figures.first),
        ("turn", figures.total),
    ):
        for path, values in series.items():
            result[f"{name}_{path}"] = summary(values)
    result["delivery_added"] = summary(figures.delivery)
    result["delivery_deltas"] = len(figures.delivery)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 turns per path (under a minute)")
    parser.add_argument("--turns", type=int, default=20, help="turns per path")
    args = parser.parse_args()
    result = asyncio.run(main(4 if args.quick else args.turns))
    for k, v in result.items():
        print(f"{k:>22}: {v}")
    print(json.dumps(result))
