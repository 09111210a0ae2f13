"""Bench the gateway's fan-out: outbound Kafka event -> WebSocket client latency.

    .venv/bin/python -m bench.stream [--quick] [--clients 100] [--rate 200]

Starts `soma gateway` as its own process on a fresh outbound topic, opens `--clients`
WebSockets (one session each, owned by a fresh tenant), then publishes real
`conversation.stream` envelopes to Kafka with the project's KafkaEventBus (acks=all), round
robin over the sessions at `--rate` events/s. Each event carries the wall-clock time just
before `publish()` was called; each client records when its frame arrived. Latency therefore
includes the produce round trip, the broker, the gateway's group-less fetch and the
WebSocket write. Prints figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.postgres.pool import open_pool
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.events import Envelope
from somaagent.services.gateway import GatewaySettings

PORT = 18_097


async def start_gateway(topic: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "SOMA_GATEWAY__OUTBOUND_TOPIC": topic, "SOMA_LOG_LEVEL": "warning"}
    soma = str(Path(sys.executable).with_name("soma"))
    proc = await asyncio.create_subprocess_exec(soma, "gateway", "--port", str(PORT), env=env)
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(150):
            try:
                if (await http.get(f"http://127.0.0.1:{PORT}/readyz")).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the gateway did not become ready within 30 s")


async def reader(ws: ClientConnection, latencies: list[float]) -> None:
    """Record each event's latency until the socket is closed."""
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            arrived = time.time()
            frame = orjson.loads(raw)
            if frame.get("type") == "event":
                latencies.append(arrived - frame["event"]["payload"]["sent_at"])


async def publish(
    bus: KafkaEventBus, topic: str, sessions: list[str], tenant: str, *, n: int, rate: float
) -> float:
    started = time.perf_counter()
    for i in range(n):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sid = sessions[i % len(sessions)]
        payload = {
            "status": "streaming",
            "correlation_id": "bench",
            "seq": i,
            "delta": "tok ",
            "sent_at": time.time(),
        }
        await bus.publish(
            topic,
            Envelope(type="conversation.stream", session_id=sid, tenant_id=tenant, payload=payload),
        )
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main(clients: int, events: int, rate: float) -> dict[str, object]:
    settings = GatewaySettings()
    run = uuid.uuid4().hex[:8]
    topic, tenant = f"bench.stream.{run}.outbound", f"bench-{run}"
    await ensure_topics(settings.kafka.bootstrap, [topic], settings.kafka.partitions)
    pool = await open_pool(settings.postgres)
    key, _ = await ApiKeyStore(pool).create(tenant, "user", "bench")
    await pool.close()
    gateway = await start_gateway(topic)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{PORT}",
            timeout=10,
            headers={"Authorization": f"Bearer {key}"},
        ) as http:
            sessions = [
                (await http.post("/v1/sessions", json={})).json()["session_id"]
                for _ in range(clients)
            ]
        sockets = [
            await connect(f"ws://127.0.0.1:{PORT}/v1/sessions/{s}/stream?key={key}")
            for s in sessions
        ]
        for ws in sockets:
            await ws.recv()  # ready
        latencies: list[float] = []
        readers = [asyncio.create_task(reader(ws, latencies)) for ws in sockets]
        async with KafkaEventBus(settings.kafka) as bus:
            elapsed = await publish(bus, topic, sessions, tenant, n=events, rate=rate)
        await asyncio.sleep(1.0)
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers)
    finally:
        gateway.terminate()
        await gateway.wait()
    return {
        "bench": "stream",
        "clients": clients,
        "events": events,
        "delivered": len(latencies),
        "rate_eps": round(events / elapsed, 1),
        "p50_ms": round(pct(latencies, 0.50), 2),
        "p99_ms": round(pct(latencies, 0.99), 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "goal_p99_ms": 10,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    args = parser.parse_args()
    n = 1_000 if args.quick else 10_000
    result = asyncio.run(main(args.clients, n, args.rate))
    for k, v in result.items():
        print(f"{k:>12}: {v}")
    print(json.dumps(result))
