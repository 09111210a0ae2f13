"""The console's requeue dashboard data on a real gateway: views with age and the verdict
that blocked each item, admin-only access, and the audit trail of a resolution with its
hash-chain check."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import redis.asyncio as aioredis

from services.gateway.conftest import Tenant
from somaagent.adapters.postgres.audit import AuditRecord, append_audit
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.domain.policy import AuditEvent, PolicyRequest, PolicyVerdict, RequeueItem
from somaagent.services.gateway.console_timeline import audit_trail


async def held(pool: asyncpg.Pool, rd: aioredis.Redis, prefix: str, tenant: str) -> RequeueItem:
    """A blocked tool call as the policy gate stores it (no topic: resolving publishes nothing)."""
    item = RequeueItem(
        tenant_id=tenant,
        persona_id="default",
        session_id=f"s-{uuid.uuid4().hex[:8]}",
        request=PolicyRequest(
            tenant=tenant, persona="default", action="tool.execute", resource="code_execution"
        ),
        verdict=PolicyVerdict(
            allow=False, reasons=["C1: a secret"], policy_version="v7", constitution_hash="c0"
        ),
        envelope={"correlation_id": "turn-1"},
    )
    return await PostgresRequeueStore(pool, rd, key_prefix=prefix).add(item)


async def test_dashboard_lists_resolves_and_audits_an_item(
    http: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    pg_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    redis_prefix: str,
) -> None:
    item = await held(pg_pool, redis_client, redis_prefix, tenant.tenant_id)
    admin = tenant.headers(admin=True)

    r = await http.get("/v1/console/requeue", headers=admin)
    assert r.status_code == 200, r.text
    (shown,) = r.json()["items"]
    assert r.json()["counts"] == {"pending": 1, "resolved": 0, "expired": 0}
    assert (shown["id"], shown["view"], shown["action"], shown["resource"]) == (
        item.id, "pending", "tool.execute", "code_execution",
    )  # fmt: skip
    assert shown["blocked_by"] == ["C1: a secret"] and shown["policy_version"] == "v7"
    assert shown["age_s"] >= 0 and shown["age"].endswith("s")
    assert shown["session_link"] == f"/console#/session/{item.session_id}/turn/turn-1"

    assert (await http.get("/v1/console/requeue", headers=tenant.headers())).status_code == 403
    foreign = other_tenant.headers(admin=True)
    assert (await http.get(f"/v1/console/requeue/{item.id}", headers=foreign)).status_code == 404
    r = await http.get("/v1/console/requeue", headers=foreign)
    assert r.json()["items"] == []

    resolve = f"/v1/policy/requeue/{item.id}/resolve"
    no_reason = await http.post(resolve, json={"decision": "deny", "reason": ""}, headers=admin)
    assert no_reason.status_code == 422
    r = await http.post(resolve, json={"decision": "deny", "reason": "not today"}, headers=admin)
    assert r.status_code == 200, r.text

    counts = await http.get("/v1/console/requeue/counts", headers=admin)
    assert counts.json() == {"pending": 0, "resolved": 1, "expired": 0}
    r = await http.get("/v1/console/requeue", params={"view": "resolved"}, headers=admin)
    assert [i["id"] for i in r.json()["items"]] == [item.id]
    detail = (await http.get(f"/v1/console/requeue/{item.id}", headers=admin)).json()
    assert detail["item"]["status"] == "denied" and detail["item"]["resolved_by"] == "user:root"
    (row,) = detail["audit"]
    assert (row["actor"], row["action"], row["reason"]) == (
        "user:root",
        "requeue.denied",
        "not today",
    )
    assert row["hash_ok"] and row["link_ok"] and detail["chain_ok"] is True
    assert detail["chain_problem"] is None


async def test_an_audit_row_that_does_not_match_its_hash_breaks_the_chain(
    pg_pool: asyncpg.Pool,
) -> None:
    event = AuditEvent(
        actor="user:root", tenant_id="t", action="requeue.denied", subject_id="item", reason="x"
    )
    async with pg_pool.acquire() as conn, conn.transaction():
        record = await append_audit(conn, event)
    trail, problem = await audit_trail(pg_pool, [record])
    assert problem is None and trail[0]["hash_ok"] and trail[0]["link_ok"]
    edited = AuditRecord(
        record.seq, event.model_copy(update={"reason": "y"}), record.prev_hash, record.hash
    )
    trail, problem = await audit_trail(pg_pool, [edited])
    assert problem == f"audit row {record.seq}: its hash does not match its content"
    relinked = AuditRecord(record.seq, event, "0" * 63 + "1", record.hash)
    trail, problem = await audit_trail(pg_pool, [relinked])
    assert not trail[0]["link_ok"] and problem is not None
