"""A tool call the policy blocks: the turn waits visibly, an admin allows it, the tool runs
once and the same turn resumes and completes, with both verdicts and an audit trail."""

from __future__ import annotations

import uuid

import asyncpg
import orjson
import redis.asyncio as aioredis

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.openfga.client import tenant_ref, user_ref
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.application.policy import HttpPolicyClient
from somaagent.application.policy.requeue import RequeueService
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings

from .conftest import Send, running_worker, watch_turn
from .test_tool_turns import running_executor

# worded so the injection tag stays under its threshold ("print('AKIA...')" scores 0.83-0.86)
SECRET_CODE = "use python to print the string AKIAIOSFODNN7EXAMPLE"


async def pending_item(store: PostgresRequeueStore, tenant: str) -> str:
    """The one pending item (stored before the worker said `waiting_for_policy`)."""
    (item,) = await store.list_items(tenant, status="pending")
    return item.id


async def test_blocked_tool_waits_for_an_admin_then_the_turn_completes(
    worker_settings: WorkerSettings,
    settings: CommonSettings,
    send: Send,
    pg_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
) -> None:
    tenant, admin = f"tenant-pol-{uuid.uuid4().hex[:8]}", f"admin-{uuid.uuid4().hex[:8]}"
    store = PostgresRequeueStore(pg_pool, redis_client, key_prefix=settings.redis.key_prefix)
    async with (
        running_executor(worker_settings),
        running_worker(worker_settings),
        OpenFgaClient(settings.openfga) as fga,
        HttpPolicyClient(worker_settings.policy) as policy,
        KafkaEventBus(settings.kafka) as bus,
    ):
        await fga.write([(user_ref(admin), "admin", tenant_ref(tenant))])
        _, correlation = await send(SECRET_CODE, tenant)
        waiting = await watch_turn(
            settings,
            worker_settings.topics.outbound,
            correlation,
            until=lambda u: u["status"] in {"waiting_for_policy", "completed", "error"},
        )
        assert waiting.final()["status"] == "waiting_for_policy", waiting.updates[-3:]
        assert "secret" in waiting.final()["reason"]

        item_id = await pending_item(store, tenant)
        service = RequeueService(store, policy, bus, fga)
        await service.resolve(
            item_id, tenant_id=tenant, subject=admin, decision="allow", reason="test key, harmless"
        )
        watch = await watch_turn(settings, worker_settings.topics.outbound, correlation)

    statuses = [u["status"] for u in watch.updates]
    assert watch.final()["status"] == "completed", watch.updates[-3:]
    assert statuses.index("waiting_for_policy") < statuses.index("tool_result")
    assert [u["seq"] for u in watch.updates] == list(range(len(watch.updates)))  # no repeats

    rows = await pg_pool.fetch(
        "SELECT type, body FROM events WHERE correlation_id = $1 ORDER BY seq", correlation
    )
    results = [
        orjson.loads(r["body"])["payload"] for r in rows if r["type"] == "tool.result.received"
    ]
    assert len(results) == 1 and "AKIA" in results[0]["stdout"]  # ran once, after the release
    turn = orjson.loads(rows[-1]["body"])["payload"]
    assert turn["policy_verdicts"][0]["allow"] is False
    actions = await pg_pool.fetch(
        "SELECT action, actor FROM audit_log WHERE subject_id = $1 ORDER BY seq", item_id
    )
    assert [(a["action"], a["actor"]) for a in actions][-1][1] == f"user:{admin}"
    released = await store.get(item_id, tenant_id=tenant)
    assert released.status == "released"
