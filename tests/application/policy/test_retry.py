"""The retry job: releases what now passes, once; backs off; gives up; respects leases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import asyncpg
import redis.asyncio as aioredis

from somaagent.adapters.openfga import persona_ref, tool_ref
from somaagent.adapters.postgres.audit import PostgresAuditLog
from somaagent.application.policy.retry import backoff_s
from somaagent.domain.constants import REDIS_LEASE_PREFIX
from somaagent.domain.events import utc_now
from somaagent.domain.tools import ToolCall
from somaagent.settings import CommonSettings

from .conftest import KitFactory, OwnOpa, PolicyKit, read_topic, serve_engine


def _call(tenant: str, tool: str = "http_fetch") -> ToolCall:
    arguments = {"url": "https://example.com/x"} if tool == "http_fetch" else {"query": "q"}
    return ToolCall(
        tool=tool,
        arguments=arguments,
        session_id=f"s-{tenant}",
        tenant_id=tenant,
        persona_id="helper",
        correlation_id=f"turn-{tenant}",
    )


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_s(n, 2.0, 20.0) for n in (1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 16.0, 20.0]


async def test_relationship_added_releases_pending_item_once(
    kit: PolicyKit,
    settings: CommonSettings,
    redis_prefix: str,
    unique: Callable[[str], str],
) -> None:
    tenant = unique("tenant")
    blocked = await kit.gate.guard_tool(_call(tenant))
    assert blocked.requeue_id
    job = kit.retry_job(redis_prefix, base_backoff_s=5.0)
    first = await job.run_once()
    assert first.rescheduled == [blocked.requeue_id]
    item = await kit.store.get(blocked.requeue_id)
    assert item.attempts == 1 and item.status == "pending"
    assert (await job.run_once()).rescheduled == []  # not due yet: backoff

    await kit.fga.write([(persona_ref(tenant, "helper"), "user", tool_ref(tenant, "http_fetch"))])
    later = utc_now() + timedelta(seconds=6)
    second = await job.run_once(later)
    assert second.released == [blocked.requeue_id]
    assert (await job.run_once(later + timedelta(seconds=60))).released == []
    assert (await kit.store.get(blocked.requeue_id)).status == "released"
    published = await read_topic(settings.kafka.bootstrap, kit.tool_topic, settle_s=2.0)
    assert [e.event_id for e, _ in published] == [item.envelope["event_id"]]


async def test_gives_up_after_the_limit(
    kit: PolicyKit, pg_pool: asyncpg.Pool, redis_prefix: str, unique: Callable[[str], str]
) -> None:
    blocked = await kit.gate.guard_tool(_call(unique("tenant")))
    assert blocked.requeue_id
    job = kit.retry_job(redis_prefix, max_attempts=2, base_backoff_s=1.0)
    now = utc_now()
    assert (await job.run_once(now)).rescheduled == [blocked.requeue_id]
    assert (await job.run_once(now + timedelta(seconds=2))).failed == [blocked.requeue_id]
    assert (await kit.store.get(blocked.requeue_id)).status == "failed"
    actions = [
        r.event.action for r in await PostgresAuditLog(pg_pool).for_subject(blocked.requeue_id)
    ]
    assert actions == ["requeue.re-evaluated", "requeue.gave-up"]


async def test_a_leased_item_is_left_to_its_holder(
    kit: PolicyKit,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    unique: Callable[[str], str],
) -> None:
    blocked = await kit.gate.guard_tool(_call(unique("tenant")))
    assert blocked.requeue_id
    lease = f"{redis_prefix}{REDIS_LEASE_PREFIX}requeue:{blocked.requeue_id}"
    await redis_client.set(lease, "another-worker", px=10_000)
    job = kit.retry_job(redis_prefix)
    assert (await job.run_once()).skipped == [blocked.requeue_id]
    assert (await kit.store.get(blocked.requeue_id)).attempts == 0
    assert await redis_client.get(lease) == b"another-worker"  # not ours to delete
    await redis_client.delete(lease)
    assert (await job.run_once()).rescheduled == [blocked.requeue_id]
    assert await redis_client.get(lease) is None


async def test_lost_redis_index_is_rebuilt_from_postgres(
    kit: PolicyKit, redis_client: aioredis.Redis, redis_prefix: str, unique: Callable[[str], str]
) -> None:
    blocked = await kit.gate.guard_tool(_call(unique("tenant")))
    assert blocked.requeue_id
    await redis_client.delete(kit.store.index_key)
    job = kit.retry_job(redis_prefix)
    assert (await job.run_once()).rescheduled == []
    assert await kit.store.reindex() >= 1
    assert blocked.requeue_id in (await job.run_once()).rescheduled


async def test_opa_down_fails_closed_and_retry_passes_when_back(
    own_opa: OwnOpa,
    settings: CommonSettings,
    make_kit: KitFactory,
    redis_prefix: str,
    unique: Callable[[str], str],
) -> None:
    tenant = unique("tenant")
    async with serve_engine(settings, own_opa.url) as url, make_kit(url) as opa_kit:
        assert (await opa_kit.gate.guard_tool(_call(unique("t"), "web_search"))).allowed
        await own_opa.stop()
        blocked = await opa_kit.gate.guard_tool(_call(tenant, "web_search"))
        assert not blocked.allowed and blocked.requeue_id
        assert blocked.verdict.reasons[0].startswith("fail-closed: policy engine error 503")
        job = opa_kit.retry_job(redis_prefix, base_backoff_s=1.0)
        assert (await job.run_once()).rescheduled == [blocked.requeue_id]
        await own_opa.start()
        released = await job.run_once(utc_now() + timedelta(seconds=2))
        assert released.released == [blocked.requeue_id]
        published = await read_topic(settings.kafka.bootstrap, opa_kit.tool_topic, settle_s=1.0)
        assert len(published) == 1
