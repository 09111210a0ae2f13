"""A tool call the policy blocks: the turn waits visibly, an admin allows it, the tool runs
once and the same turn resumes and completes, with both verdicts and an audit trail."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.application.policy import HttpPolicyClient
from somaagent.application.policy.admins import TenantAdmins
from somaagent.application.policy.requeue import RequeueService
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    TOOL_CALL_REQUESTED,
    TOOL_RESULT_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    make_event,
)
from somaagent.domain.event_types import (
    POLICY_VERDICT_RECORDED as VERDICT,
)
from somaagent.domain.policy import ResolveDecision
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings

from .conftest import Send, Watch, running_worker, watch_turn
from .test_tool_turns import running_executor
from .test_turns import stored

# worded so the injection tag stays under its threshold ("print('AKIA...')" scores 0.83-0.86)
SECRET_CODE = "use python to print the string AKIAIOSFODNN7EXAMPLE"


async def pending_item(store: PostgresRequeueStore, tenant: str) -> str:
    """The one pending item (stored before the worker said `waiting_for_policy`)."""
    (item,) = await store.list_items(tenant, status="pending")
    return item.id


async def stored_soon(pool: asyncpg.Pool, correlation: str, count: int) -> list[tuple[str, dict]]:
    """The turn's stored events once there are `count` (the status goes out just before the
    state and events are saved)."""
    for _ in range(100):
        events = await stored(pool, correlation)
        if len(events) >= count:
            return events
        await asyncio.sleep(0.1)
    return events


@dataclass
class Resolved:
    """A held turn an admin resolved: its outbound updates, ids and the requeue store."""

    watch: Watch
    correlation: str
    item_id: str
    admin: str
    tenant: str
    store: PostgresRequeueStore


async def held_then_resolved(
    worker_settings: WorkerSettings,
    settings: CommonSettings,
    send: Send,
    store: PostgresRequeueStore,
    decision: ResolveDecision,
    reason: str,
    second: Callable[[str, str], Awaitable[None]] | None = None,
) -> Resolved:
    """Send SECRET_CODE, see the turn wait for policy with its events in the history,
    run `second(session, tenant)` while it waits, resolve it as an admin, watch it end."""
    pool = store.pool
    tenant, admin = f"tenant-pol-{uuid.uuid4().hex[:8]}", f"admin-{uuid.uuid4().hex[:8]}"
    async with (
        running_executor(worker_settings),
        running_worker(worker_settings),
        OpenFgaClient(settings.openfga) as fga,
        HttpPolicyClient(worker_settings.policy) as policy,
        KafkaEventBus(settings.kafka) as bus,
    ):
        await TenantAdmins(fga).grant(tenant, admin, actor="test")
        session, correlation = await send(SECRET_CODE, tenant)
        waiting = await watch_turn(
            settings,
            worker_settings.topics.outbound,
            correlation,
            until=lambda u: u["status"] in {"waiting_for_policy", "completed", "error"},
        )
        assert waiting.final()["status"] == "waiting_for_policy", waiting.updates[-3:]
        assert "secret" in waiting.final()["reason"]
        held = await stored_soon(pool, correlation, 3)  # in the history while it waits
        assert [t for t, _ in held] == [MESSAGE_RECEIVED, TOOL_CALL_REQUESTED, VERDICT]
        assert held[2][1]["payload"]["allow"] is False
        if second is not None:
            await second(session, tenant)
        item_id = await pending_item(store, tenant)
        service = RequeueService(store, policy, bus, fga)
        await service.resolve(
            item_id, tenant_id=tenant, subject=admin, decision=decision, reason=reason
        )
        watch = await watch_turn(settings, worker_settings.topics.outbound, correlation)
    return Resolved(watch, correlation, item_id, admin, tenant, store)


async def test_blocked_tool_waits_for_an_admin_then_the_turn_completes(
    worker_settings: WorkerSettings,
    settings: CommonSettings,
    send: Send,
    pg_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
) -> None:
    store = PostgresRequeueStore(pg_pool, redis_client, key_prefix=settings.redis.key_prefix)
    answered: list[dict[str, Any]] = []

    async def second_message(session: str, tenant: str) -> None:
        """Another message to the session while its turn is held: answered on its own."""
        event = make_event(
            MESSAGE_RECEIVED, MessageReceived(text="Name one colour."), session_id=session,
            tenant_id=tenant, correlation_id=uuid.uuid4().hex,
        )  # fmt: skip
        async with KafkaEventBus(settings.kafka) as bus:
            await bus.publish(worker_settings.topics.inbound, event)
        watch = await watch_turn(
            settings, worker_settings.topics.outbound, event.correlation_id or ""
        )
        answered.append(watch.final())

    done = await held_then_resolved(
        worker_settings, settings, send, store, "allow", "test key, harmless", second_message
    )
    assert answered[0]["status"] == "completed", answered  # while the first one waited
    watch, correlation, item_id, admin, tenant = (
        done.watch, done.correlation, done.item_id, done.admin, done.tenant
    )  # fmt: skip
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
    assert len(results) == 1  # ran once, after the release
    kinds = [r["type"] for r in rows]  # appended while held and at the end: stored once
    assert kinds == [MESSAGE_RECEIVED, TOOL_CALL_REQUESTED, VERDICT, TOOL_RESULT_RECEIVED, VERDICT,
                     TURN_COMPLETED], kinds  # fmt: skip
    assert "[REDACTED:c1-2]" in results[0]["stdout"] and "AKIA" not in results[0]["stdout"]
    turn = orjson.loads(rows[-1]["body"])["payload"]
    held, override = turn["policy_verdicts"]  # the engine's deny, then the admin's allow
    assert held["allow"] is False and override["allow"] is True
    assert override["reasons"] == [f"allowed by user:{admin}: test key, harmless"]
    actions = await pg_pool.fetch(
        "SELECT action, actor FROM audit_log WHERE subject_id = $1 ORDER BY seq", item_id
    )
    assert [(a["action"], a["actor"]) for a in actions][-1][1] == f"user:{admin}"
    released = await store.get(item_id, tenant_id=tenant)
    assert released.status == "released"


async def test_an_admins_denial_ends_the_waiting_turn_at_once_with_who_and_why(
    worker_settings: WorkerSettings,
    settings: CommonSettings,
    send: Send,
    pg_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
) -> None:
    store = PostgresRequeueStore(pg_pool, redis_client, key_prefix=settings.redis.key_prefix)
    done = await held_then_resolved(worker_settings, settings, send, store, "deny", "no keys here")
    watch, correlation, item_id, admin, tenant = (
        done.watch, done.correlation, done.item_id, done.admin, done.tenant
    )  # fmt: skip
    assert watch.final()["status"] == "completed", watch.updates[-3:]  # not the 900 s expiry
    rows = await pg_pool.fetch(
        "SELECT type, body FROM events WHERE correlation_id = $1 ORDER BY seq", correlation
    )
    (result,) = [
        orjson.loads(r["body"])["payload"] for r in rows if r["type"] == "tool.result.received"
    ]
    assert result["status"] == "denied" and result["stdout"] == ""  # the code never ran
    assert result["reason"] == f"Blocked by policy (denied by user:{admin}: no keys here)."
    turn = orjson.loads(rows[-1]["body"])["payload"]
    held, override = turn["policy_verdicts"]
    assert (held["allow"], override["allow"]) == (False, False)
    assert override["reasons"] == [f"denied by user:{admin}: no keys here"]
    assert (await store.get(item_id, tenant_id=tenant)).status == "denied"
