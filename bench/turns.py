"""Bench the conversation worker's own cost per turn, around the model.

    .venv/bin/python -m bench.turns [--quick] [--turns N]

Starts `soma worker conversation` as its own process on fresh topics and a schema of its
own (migrated and seeded here, dropped afterwards), then sends turns one at a time and
measures, per turn:
  overhead = (first outbound delta seen - inbound produced) - SLM time - model TTFT
(the SLM time and TTFT come from the worker's `completed` event), the delay each delta adds
between the model and Kafka's ack (the worker's conversation_delta_publish_seconds
histogram), and the worker's CPU milliseconds per turn (from /proc; the model server is
another process, so all of it is outside model calls). That figure includes the CPU the
worker spends between turns on its Kafka fetch long-poll, so the bench also measures the idle
worker for IDLE_S seconds first and reports the per-turn CPU above that idle rate. Prints one
JSON line at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.postgres.migrations import upgrade
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.application import model_profiles
from somaagent.cli.models import seed_urls
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.constants import dlq_topic
from somaagent.domain.event_types import MESSAGE_RECEIVED, MessageReceived, make_event
from somaagent.settings import CommonSettings, repo_root

#: Seconds the idle worker is measured for, after the warm-up turns.
IDLE_S = 5.0
PROMPTS = [
    "Say hi.",
    "Name a colour.",
    "Give me one word for happy.",
    "What is two plus two?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def prepare_schema(settings: CommonSettings, schema: str) -> None:
    dsn = settings.postgres.dsn()
    await upgrade(dsn, repo_root() / "migrations", schema)
    pool = await asyncpg.create_pool(dsn, server_settings={"search_path": f"{schema},public"})
    try:
        text = (repo_root() / "infra" / "models" / "profiles.yaml").read_text()
        await model_profiles.seed(
            PostgresModelProfileStore(pool), model_profiles.parse_seed(text, seed_urls(settings))
        )
    finally:
        await pool.close()


async def drop_schema(settings: CommonSettings, schema: str) -> None:
    conn = await asyncpg.connect(settings.postgres.dsn())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def idle_cpu_ms_per_s(pid: int, seconds: float) -> float:
    """CPU the worker spends while no turn runs (its Kafka fetch long-poll), per second."""
    cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) * 1000 / (time.perf_counter() - wall0)


async def start_worker(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "somaagent.cli.main",
        "worker",
        "conversation",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200:
                    await asyncio.sleep(3)  # the consumer joins its group
                    return proc
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
    raise RuntimeError("the worker did not start")


async def one_turn(
    bus: KafkaEventBus, consumer: AIOKafkaConsumer, inbound: str, text: str
) -> dict[str, float]:
    corr = uuid.uuid4().hex
    event = make_event(
        MESSAGE_RECEIVED,
        MessageReceived(text=text),
        session_id=f"bench-{corr[:12]}",
        tenant_id="bench",
        correlation_id=corr,
    )
    sent = time.perf_counter()
    await bus.publish(inbound, event)
    first: float | None = None
    while True:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for record in records:
                payload = orjson.loads(record.value)["payload"]
                if payload["correlation_id"] != corr:
                    continue
                if payload["status"] == "streaming" and first is None:
                    first = time.perf_counter()
                if payload["status"] in {"completed", "error"}:
                    lat = payload.get("latencies") or {}
                    to_first = (first or time.perf_counter()) - sent
                    return {
                        "to_first_delta_s": to_first,
                        "slm_s": lat.get("slm_s", 0.0),
                        "ttft_s": lat.get("ttft_s", 0.0),
                        "overhead_s": to_first - lat.get("slm_s", 0.0) - lat.get("ttft_s", 0.0),
                    }


def delta_p99_ms(metrics: str) -> float | None:
    """p99 upper bound from the histogram buckets of conversation_delta_publish_seconds."""
    buckets: list[tuple[float, float]] = []
    for line in metrics.splitlines():
        if line.startswith("conversation_delta_publish_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    return next(le for le, count in buckets if count >= 0.99 * total) * 1000


async def main(args: argparse.Namespace) -> dict[str, Any]:
    settings = CommonSettings()
    run = uuid.uuid4().hex[:8]
    schema, inbound, outbound = (
        f"bench_turns_{run}",
        f"bench.{run}.inbound",
        f"bench.{run}.outbound",
    )
    # Tool topics of its own too: on the stack's, the new consumer group would first replay
    # every tool result the stack ever produced (measured: ~10 s at 30% of a core).
    tools = (f"bench.{run}.tool-requests", f"bench.{run}.tool-results")
    await prepare_schema(settings, schema)
    names = [inbound, outbound, *tools]
    await ensure_topics(settings.kafka.bootstrap, [*names, *map(dlq_topic, names)], 4)
    port = free_port()
    env = {
        **os.environ,
        "SOMA_POSTGRES__DB_SCHEMA": schema,
        "SOMA_TOPICS__INBOUND": inbound,
        "SOMA_TOPICS__OUTBOUND": outbound,
        "SOMA_TOPICS__TOOL_REQUESTS": tools[0],
        "SOMA_TOPICS__TOOL_RESULTS": tools[1],
        "SOMA_WORKER__GROUP_ID": f"bench-{run}",
        "SOMA_WORKER__METRICS_PORT": str(port),
        "SOMA_WORKER__ANSWER_MAX_TOKENS": str(args.max_tokens),
    }
    worker = await start_worker(env, port)
    consumer = AIOKafkaConsumer(outbound, bootstrap_servers=settings.kafka.bootstrap)
    await consumer.start()
    try:
        async with KafkaEventBus(settings.kafka) as bus:
            for i in range(3):  # warm-up: connections, prompt cache
                await one_turn(bus, consumer, inbound, PROMPTS[i % len(PROMPTS)])
            idle_ms_per_s = await idle_cpu_ms_per_s(worker.pid, IDLE_S)
            cpu0, wall0, rows = cpu_seconds(worker.pid), time.perf_counter(), []
            for i in range(args.turns):
                rows.append(await one_turn(bus, consumer, inbound, PROMPTS[i % len(PROMPTS)]))
            cpu_ms = (cpu_seconds(worker.pid) - cpu0) * 1000 / args.turns
            wall_per_turn_s = (time.perf_counter() - wall0) / args.turns
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        await consumer.stop()
        worker.terminate()
        await worker.wait()
        await drop_schema(settings, schema)
    overhead = [r["overhead_s"] * 1000 for r in rows]
    return {
        "bench": "turns",
        "turns": len(rows),
        "max_tokens": args.max_tokens,
        "overhead_p50_ms": round(statistics.median(overhead), 2),
        "overhead_p99_ms": round(quantile(overhead, 0.99), 2),
        "slm_p50_ms": round(statistics.median(r["slm_s"] * 1000 for r in rows), 2),
        "ttft_p50_ms": round(statistics.median(r["ttft_s"] * 1000 for r in rows), 2),
        "delta_publish_p99_ms_upper_bound": delta_p99_ms(metrics),
        "worker_cpu_ms_per_turn": round(cpu_ms, 2),
        "worker_idle_cpu_ms_per_s": round(idle_ms_per_s, 2),
        "worker_cpu_ms_per_turn_above_idle": round(cpu_ms - idle_ms_per_s * wall_per_turn_s, 2),
        "loadavg_1m": os.getloadavg()[0],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 turns (under a minute)")
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=8)
    ns = parser.parse_args()
    if ns.quick:
        ns.turns = 30
    started = time.monotonic()
    result = asyncio.run(main(ns))
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
