"""Load over several conversation workers: concurrent sessions, each a run of turns.

    .venv/bin/python -m bench.load [--quick] [--sessions N] [--turns T | --duration-s D]
        [--workers W] [--warmup-s U] [--profile P]

Starts W `soma worker conversation` processes with the launcher (as `soma up --workers W`
does) in a state directory of its own, on fresh topics (the platform's default partition
count), a fresh consumer group and a schema of its own (migrated and seeded here, dropped
afterwards); the model servers, Kafka, PostgreSQL, Redis and the policy engine are the running
stack's. N sessions run at once, each sending T short turns one after another (the next when
the last completed), published the way the gateway publishes them (keyed by session). Reports
turns/s, turn latency p50/p99 (publish to the end), failed turns by reason (the `error` update's
reason, or `timeout`: no end within TURN_WAIT_S), the resident memory of
each worker at start and end, and the inbound consumer lag at the end (and how long it took
to reach 0). With `--duration-s D` each session keeps sending turns until D seconds have
passed (the issue's full run: 50 sessions, 600 s, 3 workers). The sessions' tenant uses the
dialogue profile `--profile` (default the smallest, smollm2-135m: the machine has 2 cores).
The workers' RSS is sampled every 30 s; `rss_growth_after_warmup` compares the end with the
sample at `--warmup-s` (the issue's bound: < 10%). Prints one JSON line at the end.
`--quick`: 2 sessions of 2 turns on 3 workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.turns import PROMPTS, drop_schema, free_port, prepare_schema, quantile
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.adapters.postgres.pool import open_pool
from somaagent.devstack.kafka import ensure_topics
from somaagent.devstack.platform import ConversationWorkerProcess
from somaagent.devstack.service import StackContext
from somaagent.domain.constants import dlq_topic
from somaagent.domain.event_types import MESSAGE_RECEIVED, MessageReceived, make_event
from somaagent.domain.llm import ProfileOverride
from somaagent.settings import CommonSettings

TENANT = "bench-load"
TURN_WAIT_S = 300.0  # a turn without its end by then counts as failed ("timeout")
LAUNCH = (
    "import sys\n"
    "from somaagent.devstack.platform import ConversationWorkerProcess\n"
    "from somaagent.devstack.service import StackContext\n"
    "from somaagent.settings import CommonSettings\n"
    "print(ConversationWorkerProcess(StackContext(CommonSettings()), int(sys.argv[1])).up())\n"
)


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:  # the process is gone
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


class Run:
    def __init__(self, settings: CommonSettings, state: Path, workers: int, profile: str) -> None:
        tag = uuid.uuid4().hex[:8]
        self.settings = settings
        self.schema = f"bench_load_{tag}"
        self.inbound, self.outbound = f"bench.load.{tag}.inbound", f"bench.load.{tag}.outbound"
        self.tools = (f"bench.load.{tag}.tool-requests", f"bench.load.{tag}.tool-results")
        self.group = f"bench-load-{tag}"
        self.profile = profile
        self.ctx = StackContext(CommonSettings(state_dir=state))
        self.workers = [ConversationWorkerProcess(self.ctx, i) for i in range(workers)]
        base = free_port()
        self.env = {
            **os.environ,
            "SOMA_STATE_DIR": str(state),
            "SOMA_POSTGRES__DB_SCHEMA": self.schema,
            "SOMA_TOPICS__INBOUND": self.inbound,
            "SOMA_TOPICS__OUTBOUND": self.outbound,
            "SOMA_TOPICS__TOOL_REQUESTS": self.tools[0],
            "SOMA_TOPICS__TOOL_RESULTS": self.tools[1],
            "SOMA_WORKER__GROUP_ID": self.group,
            "SOMA_WORKER__METRICS_PORT": str(base),
            "SOMA_WORKER__ANSWER_MAX_TOKENS": "24",
        }

    async def setup(self) -> None:
        await prepare_schema(self.settings, self.schema)
        await self.use_profile()
        names = [self.inbound, self.outbound, *self.tools]
        await ensure_topics(
            self.settings.kafka.bootstrap,
            [*names, *map(dlq_topic, names)],
            self.settings.kafka.partitions,
        )
        for worker in self.workers:
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", LAUNCH, str(worker.index)],
                env=self.env,
                check=True,
                capture_output=True,
                timeout=300,
            )

    async def use_profile(self) -> None:
        pool = await open_pool(self.settings.postgres.model_copy(update={"db_schema": self.schema}))
        try:
            override = ProfileOverride(tenant_id=TENANT, role="dialogue", profile=self.profile)
            await PostgresModelProfileStore(pool).set_override(override)
        finally:
            await pool.close()

    async def teardown(self) -> None:
        for worker in self.workers:
            await asyncio.to_thread(worker.down)
        await drop_schema(self.settings, self.schema)

    def rss(self) -> dict[str, float | None]:
        return {w.name: rss_mib(w.pid()) for w in self.workers}

    async def lag(self) -> int:
        """Inbound records not yet committed by the group."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka.bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka.bootstrap)
        await admin.start()
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(self.group)
            parts = [TopicPartition(self.inbound, p) for p in range(self.settings.kafka.partitions)]
            ends = await consumer.end_offsets(parts)
        finally:
            await consumer.stop()
            await admin.close()
        done = {tp: meta.offset for tp, meta in committed.items()}
        return sum(end - max(done.get(tp, 0), 0) for tp, end in ends.items())


def outcome(payload: dict[str, Any]) -> str:
    """`completed`, or `error: <reason>` for a turn that failed."""
    if payload["status"] == "completed":
        return "completed"
    return f"error: {str(payload.get('reason', ''))[:120]}"


class Turns:
    """Publishes turns and resolves each when its `completed` / `error` update arrives."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.waiting: dict[str, asyncio.Future[str]] = {}

    async def follow(self) -> None:
        consumer = AIOKafkaConsumer(
            self.run.outbound,
            bootstrap_servers=self.run.settings.kafka.bootstrap,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        payload = orjson.loads(record.value)["payload"]
                        future = self.waiting.get(payload.get("correlation_id", ""))
                        ended = payload["status"] in {"completed", "error"}
                        if ended and future and not future.done():
                            future.set_result(outcome(payload))
        finally:
            await consumer.stop()

    async def session(
        self, bus: KafkaEventBus, turns: int, until: float, out: list[tuple[float, str]]
    ) -> None:
        """`turns` turns one after another, or (`until` > 0) turns until that monotonic time."""
        session = f"load-{uuid.uuid4().hex[:12]}"
        n = 0
        while (time.monotonic() < until) if until else n < turns:
            corr = uuid.uuid4().hex
            self.waiting[corr] = asyncio.get_running_loop().create_future()
            event = make_event(
                MESSAGE_RECEIVED,
                MessageReceived(text=PROMPTS[n % len(PROMPTS)]),
                session_id=session,
                tenant_id=TENANT,
                correlation_id=corr,
            )
            sent = time.perf_counter()
            await bus.publish(self.run.inbound, event)
            try:
                status = await asyncio.wait_for(self.waiting[corr], TURN_WAIT_S)
            except TimeoutError:
                status = "timeout"
            out.append((time.perf_counter() - sent, status))
            n += 1


async def until_lag_zero(run: Run, timeout_s: float = 120.0) -> tuple[int, float]:
    started = time.monotonic()
    lag = await run.lag()
    while lag and time.monotonic() - started < timeout_s:
        await asyncio.sleep(1.0)
        lag = await run.lag()
    return lag, round(time.monotonic() - started, 1)


async def sample_rss(run: Run, samples: list[tuple[float, dict[str, float | None]]]) -> None:
    started = time.monotonic()
    while True:
        samples.append((round(time.monotonic() - started, 1), run.rss()))
        await asyncio.sleep(30.0)


def rss_growth(
    samples: list[tuple[float, dict[str, float | None]]], end: dict[str, float | None], warm: float
) -> dict[str, float | None]:
    """Each worker's RSS growth from the first sample at or after `warm` s to the end."""
    base = next((rss for at, rss in samples if at >= warm), samples[0][1])
    growth: dict[str, float | None] = {}
    for name, now in end.items():
        then = base.get(name)
        growth[name] = round((now - then) / then, 3) if now and then else None
    return growth


async def measure(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    rss_start = run.rss()
    done: list[tuple[float, str]] = []
    driver = Turns(run)
    samples: list[tuple[float, dict[str, float | None]]] = []
    follower = asyncio.create_task(driver.follow())
    sampler = asyncio.create_task(sample_rss(run, samples))
    started = time.perf_counter()
    until = time.monotonic() + args.duration_s if args.duration_s else 0.0
    async with KafkaEventBus(run.settings.kafka) as bus:
        await asyncio.gather(
            *(driver.session(bus, args.turns, until, done) for _ in range(args.sessions))
        )
    wall = time.perf_counter() - started
    follower.cancel()
    sampler.cancel()
    rss_end = run.rss()
    lag, lag_s = await until_lag_zero(run)
    latencies = [s for s, _ in done]
    return {
        "workers": len(run.workers),
        "sessions": args.sessions,
        "profile": run.profile,
        "wall_s": round(wall, 1),
        "turns": len(done),
        "failed": sum(1 for _, status in done if status != "completed"),
        "failures": dict(Counter(status for _, status in done if status != "completed")),
        "turns_per_s": round(len(done) / wall, 3),
        "latency_p50_s": round(quantile(latencies, 0.5), 3),
        "latency_p99_s": round(quantile(latencies, 0.99), 3),
        "rss_start_mib": rss_start,
        "rss_warm_mib": next((r for at, r in samples if at >= args.warmup_s), samples[0][1]),
        "rss_end_mib": rss_end,
        "rss_growth_after_warmup": rss_growth(samples, rss_end, args.warmup_s),
        "rss_samples_mib": samples,
        "lag_end": lag,
        "lag_zero_after_s": lag_s,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="soma-load-") as state:
        run = Run(CommonSettings(), Path(state), args.workers, args.profile)
        try:
            await run.setup()
            return await measure(run, args)
        finally:
            await run.teardown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--duration-s", type=float, default=0.0, help="run turns this long")
    parser.add_argument("--warmup-s", type=float, default=120.0)
    parser.add_argument("--profile", default="dialogue-smollm2-135m")
    options = parser.parse_args()
    if options.quick:
        options.sessions, options.turns, options.duration_s = 2, 2, 0.0
    result = asyncio.run(main(options))
    for key, value in result.items():
        sys.stderr.write(f"{key}: {value}\n")
    sys.stdout.write(json.dumps(result) + "\n")
