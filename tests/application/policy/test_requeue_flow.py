"""Acceptance: blocked -> policy.blocked + requeue item -> admin allow -> re-published once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from somaagent.adapters.openfga import persona_ref, tenant_ref, tool_ref, user_ref
from somaagent.adapters.postgres.audit import PostgresAuditLog
from somaagent.application.policy.gate import tool_envelope
from somaagent.domain.errors import ConflictError, PolicyDeniedError
from somaagent.domain.policy_events import HEADER_POLICY_RELEASE, POLICY_ACTION_BLOCKED
from somaagent.domain.tools import ToolCall
from somaagent.settings import CommonSettings

from .conftest import KitFactory, PolicyKit, read_topic


def _call(tenant: str, tool: str = "http_fetch", **arguments: object) -> ToolCall:
    return ToolCall(
        tool=tool,
        arguments=arguments or {"url": "https://example.com/report"},
        session_id=f"s-{tenant}",
        tenant_id=tenant,
        persona_id="helper",
        correlation_id=f"turn-{tenant}",
    )


def _blocked_total(action: str) -> float:
    """Blocks of `action` over every tenant, persona and tool."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "policy_blocked"
        for sample in metric.samples
        if sample.name == "policy_blocked_total" and sample.labels["action"] == action
    )


async def test_block_then_admin_allow_republishes_exactly_once(
    kit: PolicyKit,
    settings: CommonSettings,
    pg_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    unique: Callable[[str], str],
) -> None:
    tenant, alice = unique("tenant"), unique("alice")
    call = _call(tenant)
    before = _blocked_total("tool.request")
    result = await kit.gate.guard_tool(call)
    assert not result.allowed and result.requeue_id is not None
    assert result.requeue_id in result.user_message
    assert _blocked_total("tool.request") == before + 1
    labels = {"action": "tool.request", "tenant": tenant, "persona": "helper", "tool": "http_fetch"}
    assert REGISTRY.get_sample_value("policy_blocked_total", labels) == 1

    [(blocked, _)] = await read_topic(settings.kafka.bootstrap, kit.blocked_topic)
    assert blocked.type == POLICY_ACTION_BLOCKED
    assert blocked.payload["requeue_id"] == result.requeue_id
    assert blocked.payload["verdict"]["allow"] is False
    assert blocked.payload["blocked_payload"]["tool"] == "http_fetch"
    item = await kit.store.get(result.requeue_id)
    assert item.status == "pending"
    assert await redis_client.zscore(kit.store.index_key, item.id) is not None

    await kit.fga.write([(user_ref(alice), "admin", tenant_ref(tenant))])
    outcomes = await asyncio.gather(
        kit.service.resolve(
            item.id, tenant_id=tenant, subject=alice, decision="allow", reason="ok"
        ),
        kit.service.resolve(
            item.id, tenant_id=tenant, subject=alice, decision="allow", reason="ok"
        ),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["ConflictError", "RequeueItem"]
    assert (await kit.store.get(item.id)).status == "released"
    assert await redis_client.zscore(kit.store.index_key, item.id) is None

    published = await read_topic(settings.kafka.bootstrap, kit.tool_topic, settle_s=2.0)
    assert len(published) == 1
    envelope, headers = published[0]
    assert envelope.event_id == item.envelope["event_id"]
    assert envelope.payload["request_id"] == call.request_id
    assert headers[HEADER_POLICY_RELEASE] == item.id

    [audit] = await PostgresAuditLog(pg_pool).for_subject(item.id)
    assert audit.event.actor == f"user:{alice}"
    assert audit.event.action == "requeue.allowed"
    assert audit.event.reason == "ok"
    assert audit.event.verdict_before is not None and not audit.event.verdict_before["allow"]
    assert audit.event.verdict_after is not None and audit.event.verdict_after["allow"]

    # The executor's gate honours the release (the grant is still missing) ...
    executed = await kit.gate.guard_tool(
        call, envelope=envelope, action="tool.execute", released_by=headers[HEADER_POLICY_RELEASE]
    )
    assert executed.allowed
    # ... but not a forged header on a different event.
    forged = await kit.gate.guard_tool(
        call, envelope=tool_envelope(call), action="tool.execute", released_by=item.id
    )
    assert not forged.allowed


async def test_admin_deny_and_re_evaluate(kit: PolicyKit, unique: Callable[[str], str]) -> None:
    tenant, admin = unique("tenant"), unique("admin")
    await kit.fga.write([(user_ref(admin), "admin", tenant_ref(tenant))])
    first = await kit.gate.guard_tool(_call(tenant))
    second = await kit.gate.guard_tool(_call(tenant))
    assert first.requeue_id and second.requeue_id
    denied = await kit.service.resolve(
        first.requeue_id, tenant_id=tenant, subject=admin, decision="deny", reason="not needed"
    )
    assert denied.status == "denied" and denied.resolved_by == f"user:{admin}"
    with pytest.raises(ConflictError):
        await kit.service.resolve(
            first.requeue_id, tenant_id=tenant, subject=admin, decision="allow", reason="late"
        )
    still = await kit.service.resolve(
        second.requeue_id, tenant_id=tenant, subject=admin, decision="re-evaluate", reason="try"
    )
    assert still.status == "pending" and still.attempts == 1
    await kit.fga.write([(persona_ref(tenant, "helper"), "user", tool_ref(tenant, "http_fetch"))])
    released = await kit.service.resolve(
        second.requeue_id, tenant_id=tenant, subject=admin, decision="re-evaluate", reason="granted"
    )
    assert released.status == "released"
    assert released.verdict.allow and released.verdict.policy_version != "admin-override"


async def test_non_admin_is_refused(kit: PolicyKit, unique: Callable[[str], str]) -> None:
    tenant, admin_elsewhere = unique("tenant"), unique("mallory")
    await kit.fga.write([(user_ref(admin_elsewhere), "admin", tenant_ref(unique("other")))])
    result = await kit.gate.guard_tool(_call(tenant))
    assert result.requeue_id
    with pytest.raises(PolicyDeniedError, match="not an admin"):
        await kit.service.resolve(
            result.requeue_id,
            tenant_id=tenant,
            subject=admin_elsewhere,
            decision="allow",
            reason="x",
        )
    assert (await kit.store.get(result.requeue_id)).status == "pending"


async def test_canary_lets_the_action_through_and_records_it(
    engine_url: str, make_kit: KitFactory, unique: Callable[[str], str]
) -> None:
    tenant = unique("canary")
    async with make_kit(engine_url, canary_tenants=frozenset({tenant})) as canary_kit:
        result = await canary_kit.gate.guard_tool(_call(tenant))
        assert result.allowed and result.verdict.canary and result.requeue_id is None
        assert await canary_kit.store.list_items(tenant) == []
    counted = REGISTRY.get_sample_value("policy_canary_would_block_total", {"tenant": tenant})
    assert counted == 1.0


async def test_memory_write_gate(kit: PolicyKit, unique: Callable[[str], str]) -> None:
    tenant = unique("tenant")
    envelope = tool_envelope(_call(tenant))
    ok = await kit.gate.guard_memory_write(envelope, namespace="default", content={"text": "tea"})
    assert ok.allowed
    private = await kit.gate.guard_memory_write(envelope, namespace="finance", content={"t": "x"})
    assert not private.allowed and private.requeue_id
    item = await kit.store.get(private.requeue_id)
    assert item.request.action == "memory.write" and item.target_topic is None
