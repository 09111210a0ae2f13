"""The HTTP API on the real stack: auth, tenancy, sessions, messages, documented errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.gateway.conftest import RunningGateway, Tenant
from somaagent.adapters.postgres.api_keys import ApiKeyStore, hash_key
from somaagent.application import model_profiles
from somaagent.domain.event_types import MESSAGE_RECEIVED
from somaagent.settings import repo_root


async def new_session(http: httpx.AsyncClient, tenant: Tenant, title: str = "t") -> str:
    r = await http.post("/v1/sessions", json={"title": title}, headers=tenant.headers())
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


def error_code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


async def read_inbound(gateway: RunningGateway, partition: int, offset: int) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=gateway.settings.kafka.bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(gateway.settings.gateway.inbound_topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        async with asyncio.timeout(10):
            msg = await consumer.getone(tp)
        return dict(orjson.loads(msg.value))
    finally:
        await consumer.stop()


async def test_keys_are_hashed_at_rest(keys: ApiKeyStore, pg_pool: Any) -> None:
    key, record = await keys.create("t-hash", "user", "bob")
    stored = await pg_pool.fetchval("SELECT key_hash FROM api_keys WHERE key_prefix = $1", key[:12])
    assert stored == hash_key(key) and key not in stored
    assert (await keys.lookup(key)) == record
    assert await keys.revoke(record.key_prefix) == 1
    assert await keys.lookup(key) is None


async def test_message_is_produced_to_inbound_and_answered_202(
    http: httpx.AsyncClient, gateway: RunningGateway, tenant: Tenant
) -> None:
    sid = await new_session(http, tenant, "hello")
    r = await http.post(
        f"/v1/sessions/{sid}/messages", json={"text": "hi"}, headers=tenant.headers()
    )
    assert r.status_code == 202, r.text
    body = r.json()
    event = await read_inbound(gateway, body["partition"], body["offset"])
    assert event["type"] == MESSAGE_RECEIVED
    assert event["session_id"] == sid and event["tenant_id"] == tenant.tenant_id
    assert event["correlation_id"] == body["correlation_id"]
    assert event["payload"] == {"text": "hi", "attachments": [], "model_profile": None}


async def test_sessions_list_get_and_paged_history(http: httpx.AsyncClient, tenant: Tenant) -> None:
    made = [await new_session(http, tenant, f"s{i}") for i in range(3)]
    r = await http.get("/v1/sessions", params={"limit": 2}, headers=tenant.headers())
    first = r.json()
    assert [s["session_id"] for s in first["sessions"]] == made[::-1][:2]
    r = await http.get(
        "/v1/sessions",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=tenant.headers(),
    )
    assert [s["session_id"] for s in r.json()["sessions"]] == [made[0]]
    one = (await http.get(f"/v1/sessions/{made[1]}", headers=tenant.headers())).json()
    assert one["title"] == "s1" and one["last_seq"] == 1
    page = (await http.get(f"/v1/sessions/{made[1]}/events", headers=tenant.headers())).json()
    assert [e["event"]["type"] for e in page["events"]] == ["session.created"]
    assert page["next_after"] is None


async def test_a_tenant_never_sees_or_writes_another_tenants_session(
    http: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    sid = await new_session(http, tenant)
    theirs = other_tenant.headers()
    for r in (
        await http.get(f"/v1/sessions/{sid}", headers=theirs),
        await http.get(f"/v1/sessions/{sid}/events", headers=theirs),
        await http.post(f"/v1/sessions/{sid}/messages", json={"text": "x"}, headers=theirs),
    ):
        assert r.status_code == 404 and error_code(r) == "not_found"
    listed = (await http.get("/v1/sessions", headers=theirs)).json()["sessions"]
    assert sid not in {s["session_id"] for s in listed}


async def test_documented_4xx_errors(http: httpx.AsyncClient, tenant: Tenant) -> None:
    sid = await new_session(http, tenant)
    url = f"/v1/sessions/{sid}/messages"
    h = {**tenant.headers(), "content-type": "application/json"}
    cases = [
        (await http.post(url, content=b'{"text": ', headers=h), 400, "invalid_json"),
        (await http.post(url, json={"text": ""}, headers=h), 422, "invalid_input"),
        (await http.post(url, json={"txt": "a"}, headers=h), 422, "invalid_input"),
        (await http.post(url, json={"text": "a" * 70_000}, headers=h), 413, "payload_too_large"),
        (
            await http.post(url, content=b"x" * (1024 * 1024 + 1), headers=h),
            413,
            "payload_too_large",
        ),
        (
            await http.post("/v1/sessions/nope/messages", json={"text": "a"}, headers=h),
            404,
            "not_found",
        ),
        (
            await http.get(f"/v1/sessions/{sid}", headers={"Authorization": "Bearer soma_bad"}),
            401,
            "unauthorized",
        ),
        (await http.get(f"/v1/sessions/{sid}"), 401, "unauthorized"),
        (await http.get("/v1/sessions", params={"limit": 0}, headers=h), 422, "invalid_input"),
    ]
    for r, status, code in cases:
        assert (r.status_code, error_code(r)) == (status, code), r.text
    assert r.json()["error"]["field"] == "query.limit"


async def test_health_ready_metrics_and_openapi(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"kafka": "ok", "postgres": "ok", "redis": "ok"}
    metrics = (await http.get("/metrics")).text
    assert 'soma_gateway_requests_total{method="GET",route="/readyz",status="200"}' in metrics
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert "/v1/sessions/{session_id}/messages" in paths


async def test_admin_routes_refuse_other_roles_and_stay_in_the_tenant(
    http: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    body = {"role": "user", "subject": "carol"}
    refused = await http.post("/v1/keys", json=body, headers=tenant.headers())
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    made = await http.post("/v1/keys", json=body, headers=tenant.headers(admin=True))
    assert made.status_code == 201 and made.json()["tenant_id"] == tenant.tenant_id
    new_key, prefix = made.json()["key"], made.json()["key_prefix"]
    assert (await http.get("/v1/sessions", headers={"X-API-Key": new_key})).status_code == 200
    foreign = await http.delete(f"/v1/keys/{prefix}", headers=other_tenant.headers(admin=True))
    assert foreign.status_code == 404
    assert (
        await http.delete(f"/v1/keys/{prefix}", headers=tenant.headers(admin=True))
    ).status_code == 204
    gone = await http.get("/v1/sessions", headers={"X-API-Key": new_key})
    assert (gone.status_code, error_code(gone)) == (401, "unauthorized")
    bad = await http.get("/v1/sessions", params={"cursor": "zz"}, headers=tenant.headers())
    assert (bad.status_code, error_code(bad), bad.json()["error"]["field"]) == (
        422,
        "invalid_input",
        "cursor",
    )


async def test_models_summary_and_requeue_router_use_the_gateways_auth(
    http: httpx.AsyncClient, seeded_profiles: None, tenant: Tenant, other_tenant: Tenant
) -> None:
    text = (repo_root() / "infra" / "models" / "profiles.yaml").read_text()
    urls = {
        k: "http://127.0.0.1:1"
        for k in ("dialogue_url", "fallback_url", "large_url", "embedding_url")
    }
    shipped = {p.name for p in model_profiles.parse_seed(text, urls).profiles}
    assert (await http.get("/v1/models")).status_code == 401
    listed = (await http.get("/v1/models", headers=tenant.headers())).json()["data"]
    # the run's schema holds the shipped profiles (and any other tests' own ones)
    assert shipped <= {p["name"] for p in listed}
    items = await http.get("/v1/policy/requeue", headers=tenant.headers())
    assert items.status_code == 200 and items.json() == []
    foreign = await http.get(
        "/v1/policy/requeue", params={"tenant": other_tenant.tenant_id}, headers=tenant.headers()
    )
    assert (foreign.status_code, error_code(foreign)) == (403, "forbidden")
    assert (await http.get("/v1/policy/requeue")).status_code == 401


async def test_a_chunked_body_over_the_limit_is_refused_while_streaming(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    sid = await new_session(http, tenant)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"a" * 65_536
        yield b'"}'

    h = {**tenant.headers(), "content-type": "application/json"}
    r = await http.post(f"/v1/sessions/{sid}/messages", content=chunks(), headers=h)
    assert "content-length" not in r.request.headers
    assert (r.status_code, error_code(r)) == (413, "payload_too_large"), r.text
