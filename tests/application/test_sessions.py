"""The session repository on the real PostgreSQL and Redis, including Redis going away."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.adapters.postgres.snapshots import PostgresSnapshotStore
from somaagent.adapters.redis.session_cache import RedisSessionCache, session_cache_client
from somaagent.application.sessions import SessionRepository
from somaagent.domain.errors import ConflictError
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    SESSION_CREATED,
    TURN_COMPLETED,
    MessageReceived,
    SessionCreated,
    make_event,
)
from somaagent.domain.events import Envelope
from somaagent.domain.session_state import SessionState, replay
from somaagent.domain.turns import ConversationTurn


def turn_events(sid: str, n: int) -> list[Envelope]:
    """A user message and the completed turn answering it."""
    corr = f"c-{n}"
    common = {"session_id": sid, "tenant_id": "t-1", "correlation_id": corr}
    message = make_event(MESSAGE_RECEIVED, MessageReceived(text=f"question {n}"), **common)
    turn = ConversationTurn(
        correlation_id=corr,
        session_id=sid,
        tenant_id="t-1",
        user_message=f"question {n}",
        assistant_message=f"answer {n}",
        slm={"intent": "ask", "n": n},
    )
    return [message, make_event(TURN_COMPLETED, turn, **common)]


def rehydrations(source: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "soma_session_rehydrations_total", {"source": source, "reason": reason}
    )
    return value or 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def repository(
    pool: asyncpg.Pool, client: aioredis.Redis, prefix: str, **kw: int
) -> SessionRepository:
    return SessionRepository(
        PostgresEventStore(pool),
        PostgresSnapshotStore(pool),
        RedisSessionCache(client, key_prefix=prefix),
        **kw,
    )


@pytest.fixture
def repo(
    pg_pool: asyncpg.Pool, redis_client: aioredis.Redis, redis_prefix: str
) -> SessionRepository:
    return repository(pg_pool, redis_client, redis_prefix, snapshot_every=3, window=4)


async def build(repo: SessionRepository, sid: str, turns: int) -> SessionState:
    created = make_event(
        SESSION_CREATED, SessionCreated(title="t"), session_id=sid, tenant_id="t-1"
    )
    state = await repo.commit(None, [created])
    for n in range(turns):
        state = await repo.commit(state, turn_events(sid, n))
    return state


async def test_replay_of_all_events_equals_the_live_state(
    repo: SessionRepository, pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    live = await build(repo, sid, 10)
    assert live.turn_count == 10 and live.version == 21
    assert [t.user_message for t in live.recent_turns] == [f"question {n}" for n in range(6, 10)]
    everything = await PostgresEventStore(pg_pool).read_session(sid)
    assert replay(everything, window=4) == live
    assert await repo.load_from_store(sid) == live  # snapshot (turn 9) + events after it
    snaps = await pg_pool.fetch("SELECT seq FROM session_snapshots WHERE session_id = $1", sid)
    assert sorted(r["seq"] for r in snaps) == [7, 13, 19]


async def test_load_hits_redis_after_a_miss_fills_it(
    repo: SessionRepository,
    unique: Callable[[str], str],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    sid = unique("s")
    live = await build(repo, sid, 2)
    await redis_client.delete(f"{redis_prefix}soma:session:{sid}")
    misses, hits = rehydrations("postgres", "miss"), rehydrations("redis", "hit")
    assert await repo.load(sid) == live
    assert rehydrations("postgres", "miss") == misses + 1
    assert await redis_client.exists(f"{redis_prefix}soma:session:{sid}") == 1
    assert await repo.load(sid) == live
    assert rehydrations("redis", "hit") == hits + 1
    assert await repo.load(unique("s")) is None


async def test_corrupt_cache_value_falls_back_to_postgres(
    repo: SessionRepository,
    unique: Callable[[str], str],
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    sid = unique("s")
    live = await build(repo, sid, 1)
    await redis_client.set(f"{redis_prefix}soma:session:{sid}", b'{"not": "a state"}')
    before = rehydrations("postgres", "corrupt")
    assert await repo.load(sid) == live
    assert rehydrations("postgres", "corrupt") == before + 1


async def test_stale_cached_state_cannot_overwrite_history(
    repo: SessionRepository, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    stale = await build(repo, sid, 1)
    await repo.commit(stale, turn_events(sid, 1))  # another worker moves the session on
    with pytest.raises(ConflictError):
        await repo.commit(stale, turn_events(sid, 2))
    fresh = await repo.load_from_store(sid)
    assert fresh is not None
    done = await repo.commit(fresh, turn_events(sid, 2))
    assert done.turn_count == 3


@pytest.fixture
async def throwaway_redis() -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """A redis-server of this test's own on a free loopback port (the shared one stays up)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        stdout=asyncio.subprocess.DEVNULL,
    )
    client = session_cache_client("127.0.0.1", port)
    for _ in range(100):
        try:
            await client.ping()
            break
        except aioredis.ConnectionError:
            await asyncio.sleep(0.05)
    await client.aclose()
    yield proc, port
    if proc.returncode is None:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def test_rehydrate_falls_back_to_postgres_when_redis_is_stopped(
    pg_pool: asyncpg.Pool,
    unique: Callable[[str], str],
    redis_prefix: str,
    throwaway_redis: tuple[asyncio.subprocess.Process, int],
) -> None:
    proc, port = throwaway_redis
    client = session_cache_client("127.0.0.1", port, timeout_s=0.3)
    repo = repository(pg_pool, client, redis_prefix, snapshot_every=3, window=4)
    sid = unique("s")
    live = await build(repo, sid, 4)
    assert await client.exists(f"{redis_prefix}soma:session:{sid}") == 1
    proc.terminate()
    await asyncio.wait_for(proc.wait(), 10)
    before = rehydrations("postgres", "unavailable")
    assert await repo.load(sid) == live
    assert rehydrations("postgres", "unavailable") == before + 1
    # committing while Redis is down still works; the cache refresh is skipped quietly
    after = await repo.commit(live, turn_events(sid, 4))
    assert after.turn_count == 5
    assert await repo.load(sid) == after
    await client.aclose()
