"""Each server of the stack answers real requests through its real protocol."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from somaagent.devstack import Stack
from somaagent.settings import CommonSettings


async def test_kafka_round_trip_with_group_and_committed_offsets(
    settings: CommonSettings, kafka_topics: Callable[..., Awaitable[list[str]]]
) -> None:
    (topic,) = await kafka_topics("roundtrip", partitions=1)
    group = f"group-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=b"s1")
    finally:
        await producer.stop()

    async def consume(count: int, committed_after: int) -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka.bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            got: list[bytes] = []
            while len(got) < count:
                batch = await consumer.getmany(timeout_ms=10_000, max_records=count - len(got))
                assert batch, "no records within 10 s"
                for records in batch.values():
                    got.extend(r.value for r in records)
            await consumer.commit()
            assert await consumer.committed(TopicPartition(topic, 0)) == committed_after
            return got
        finally:
            await consumer.stop()

    assert await consume(3, committed_after=3) == [b"m0", b"m1", b"m2"]
    # a second member of the same group starts after the committed offset
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"m3", key=b"s1")
    finally:
        await producer.stop()
    assert await consume(1, committed_after=4) == [b"m3"]


async def test_postgres_transaction_commits_and_rolls_back(pg_pool: asyncpg.Pool) -> None:
    name = f"t_{uuid.uuid4().hex[:8]}"
    async with pg_pool.acquire() as conn:
        await conn.execute(f"CREATE TABLE {name} (v int)")
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {name} VALUES (1)")
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {name} VALUES (2)")
                await conn.execute("CREATE UNIQUE INDEX ON " + name + " ((1))")
        assert await conn.fetchval(f"SELECT array_agg(v) FROM {name}") == [1]
        version = await conn.fetchval("SELECT version()")
        assert version.startswith("PostgreSQL 15")
        await conn.execute(f"DROP TABLE {name}")


async def test_redis_round_trip(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    key = redis_prefix + "k"
    await redis_client.set(key, "v", ex=30)
    assert await redis_client.get(key) == b"v"
    info = await redis_client.info("server")
    assert str(info["redis_version"]).startswith("7.")
    await redis_client.delete(key)


async def test_opa_decides_over_rest(stack: Stack, settings: CommonSettings) -> None:
    async with httpx.AsyncClient(base_url=settings.opa.url, timeout=5) as client:
        allowed = await client.post(
            "/v1/data/soma/tools/allow",
            json={"input": {"resource": "web_search", "payload": {"query": "asyncio"}}},
        )
        denied = await client.post(
            "/v1/data/soma/tools/deny",
            json={"input": {"resource": "format_disk", "payload": {}}},
        )
    assert allowed.json()["result"] is True
    assert denied.json()["result"] == ['unknown tool "format_disk"']


async def test_openfga_check_allowed_and_denied(stack: Stack, settings: CommonSettings) -> None:
    store = json.loads((settings.state_dir / "openfga" / "store.json").read_text())
    tenant = f"t{uuid.uuid4().hex[:10]}"
    base = f"/stores/{store['store_id']}"
    async with httpx.AsyncClient(base_url=settings.openfga.url, timeout=5) as client:
        wrote = await client.post(
            f"{base}/write",
            json={
                "writes": {
                    "tuple_keys": [
                        {"user": "user:alice", "relation": "admin", "object": f"tenant:{tenant}"}
                    ]
                },
                "authorization_model_id": store["model_id"],
            },
        )
        assert wrote.status_code == 200, wrote.text

        async def check(user: str, relation: str) -> bool:
            resp = await client.post(
                f"{base}/check",
                json={
                    "tuple_key": {"user": user, "relation": relation, "object": f"tenant:{tenant}"},
                    "authorization_model_id": store["model_id"],
                },
            )
            assert resp.status_code == 200, resp.text
            return bool(resp.json()["allowed"])

        assert await check("user:alice", "member") is True  # admin implies member
        assert await check("user:mallory", "member") is False
