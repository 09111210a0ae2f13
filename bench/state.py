"""Bench the durable state: event-store append throughput and session rehydrate latency.

    .venv/bin/python -m bench.state [--quick]

Runs against the stack's real PostgreSQL and Redis in a schema and key prefix of its
own (dropped afterwards). Prints figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.adapters.postgres.migrations import upgrade
from somaagent.adapters.postgres.pool import SERVER_SETTINGS
from somaagent.adapters.postgres.snapshots import PostgresSnapshotStore
from somaagent.adapters.redis.session_cache import RedisSessionCache
from somaagent.application.sessions import SessionRepository
from somaagent.domain.constants import REDIS_SESSION_PREFIX
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    make_event,
)
from somaagent.domain.events import Envelope
from somaagent.domain.session_state import SessionState
from somaagent.domain.turns import ConversationTurn, Usage
from somaagent.settings import CommonSettings, repo_root

TENANT = "bench-tenant"
BATCH = 100


def message(sid: str, n: int) -> Envelope:
    body = MessageReceived(text=f"Question {n}: how do I reverse a list in Python, quickly?")
    return make_event(
        MESSAGE_RECEIVED, body, session_id=sid, tenant_id=TENANT, correlation_id=f"c{n}"
    )


def turn(sid: str, n: int) -> list[Envelope]:
    done = ConversationTurn(
        correlation_id=f"c{n}",
        session_id=sid,
        tenant_id=TENANT,
        user_message=f"Question {n}: how do I reverse a list in Python, quickly?",
        assistant_message="Use slicing: `items[::-1]` returns a reversed copy. " * 8,
        model_profile="dialogue",
        usage=Usage(prompt_tokens=180, completion_tokens=96),
        ttft_s=0.21,
        latency_s=2.4,
        slm={"intent": "how_to", "slots": {"language": "python"}, "safety": []},
    )
    finished = make_event(
        TURN_COMPLETED, done, session_id=sid, tenant_id=TENANT, correlation_id=f"c{n}"
    )
    return [message(sid, n), finished]


async def append_single(store: PostgresEventStore, count: int) -> float:
    sid = f"bench-single-{uuid.uuid4().hex[:8]}"
    events = [message(sid, n) for n in range(count)]
    start = time.perf_counter()
    for n, event in enumerate(events):
        await store.append([event], expected_version=n)
    return count / (time.perf_counter() - start)


async def append_batched(store: PostgresEventStore, count: int) -> float:
    """Events/s over the append calls alone. Each batch is built just before its append:
    building all 50,000 envelopes up front kept them alive and made Python's garbage
    collector, not the store, the bottleneck (2,856 events/s instead of ~16,000)."""
    sid = f"bench-batch-{uuid.uuid4().hex[:8]}"
    spent = 0.0
    for b in range(count // BATCH):
        batch = [message(sid, b * BATCH + i) for i in range(BATCH)]
        start = time.perf_counter()
        await store.append(batch, expected_version=b * BATCH)
        spent += time.perf_counter() - start
    return (count // BATCH) * BATCH / spent


async def build_session(repo: SessionRepository, turns: int) -> str:
    sid = f"bench-long-{uuid.uuid4().hex[:8]}"
    state: SessionState | None = None
    for n in range(turns):
        state = await repo.commit(state, turn(sid, n))
    return sid


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 3), "p99_ms": round(cuts[98] * 1000, 3)}


async def rehydrate(
    repo: SessionRepository, sid: str, rounds: int, drop: aioredis.Redis | None, key: str
) -> dict[str, float]:
    samples: list[float] = []
    for _ in range(rounds):
        if drop is not None:
            await drop.delete(key)
        start = time.perf_counter()
        state = await repo.load(sid)
        samples.append(time.perf_counter() - start)
        assert state is not None and state.turn_count > 0
    return percentiles(samples)


async def run(quick: bool) -> dict[str, Any]:
    settings = CommonSettings()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    await upgrade(settings.postgres.dsn(), repo_root() / "migrations", schema)
    pool = await asyncpg.create_pool(
        settings.postgres.dsn(),
        min_size=2,
        max_size=4,
        server_settings={**SERVER_SETTINGS, "search_path": f"{schema},public"},
    )
    redis = aioredis.Redis(host=settings.redis.host, port=settings.redis.port)
    try:
        store = PostgresEventStore(pool)
        repo = SessionRepository(
            store, PostgresSnapshotStore(pool), RedisSessionCache(redis, key_prefix=prefix)
        )
        single = await append_single(store, 1000 if quick else 3000)
        batched = await append_batched(store, 10_000 if quick else 50_000)
        turns = 1000
        sid = await build_session(repo, turns)
        key = prefix + REDIS_SESSION_PREFIX + sid
        rounds = 200 if quick else 1000
        warm = await rehydrate(repo, sid, rounds, None, key)
        cold = await rehydrate(repo, sid, rounds, redis, key)
    finally:
        await pool.close()
        conn = await asyncpg.connect(settings.postgres.dsn())
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
        keys = [k async for k in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    return {
        "bench": "state",
        "quick": quick,
        "append_single_events_per_s": round(single),
        "append_batched_events_per_s": round(batched),
        "batch_size": BATCH,
        "session_turns": turns,
        "rehydrate_redis_p50_ms": warm["p50_ms"],
        "rehydrate_redis_p99_ms": warm["p99_ms"],
        "rehydrate_postgres_p50_ms": cold["p50_ms"],
        "rehydrate_postgres_p99_ms": cold["p99_ms"],
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    args = parser.parse_args()
    figures = asyncio.run(run(args.quick))
    print(
        f"append: {figures['append_single_events_per_s']} events/s single, "
        f"{figures['append_batched_events_per_s']} events/s in batches of {BATCH}"
    )
    print(
        f"rehydrate {figures['session_turns']}-turn session: redis p50 "
        f"{figures['rehydrate_redis_p50_ms']} ms p99 {figures['rehydrate_redis_p99_ms']} ms; "
        f"postgres p50 {figures['rehydrate_postgres_p50_ms']} ms "
        f"p99 {figures['rehydrate_postgres_p99_ms']} ms"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
