"""The requeue API router over HTTP, authenticated with real API keys from PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from somaagent.adapters.openfga import tenant_ref, user_ref
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.domain.tools import ToolCall
from somaagent.services.gateway import requeue_routes
from somaagent.services.gateway.errors import install_error_handlers

from .conftest import PolicyKit


@dataclass
class KeysRuntime:
    """The part of the gateway runtime its auth dependency reads: the API key store."""

    keys: ApiKeyStore


@pytest.fixture
async def api(kit: PolicyKit, pg_pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(requeue_routes.router)
    app.state.runtime = KeysRuntime(ApiKeyStore(pg_pool))
    app.state.requeue = kit.service
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def _key(pg_pool: asyncpg.Pool, tenant: str, role: str, subject: str) -> dict[str, str]:
    key, _ = await ApiKeyStore(pg_pool).create(tenant, role, subject)
    return {"Authorization": f"Bearer {key}"}


async def test_list_get_and_resolve_over_http(
    api: httpx.AsyncClient, kit: PolicyKit, pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    tenant, alice, bob = unique("tenant"), unique("alice"), unique("bob")
    call = ToolCall(
        tool="http_fetch",
        arguments={"url": "https://example.com/"},
        session_id="s1",
        tenant_id=tenant,
        persona_id="helper",
        correlation_id="c1",
    )
    blocked = await kit.gate.guard_tool(call)
    await kit.fga.write([(user_ref(alice), "admin", tenant_ref(tenant))])
    as_alice = await _key(pg_pool, tenant, "admin", alice)
    # bob holds an admin-role key but is no admin of the tenant in OpenFGA
    as_bob = await _key(pg_pool, tenant, "admin", bob)
    stranger = await _key(pg_pool, unique("other"), "admin", alice)

    listed = await api.get("/v1/policy/requeue", params={"status": "pending"}, headers=as_bob)
    assert [i["id"] for i in listed.json()] == [blocked.requeue_id]
    one = await api.get(f"/v1/policy/requeue/{blocked.requeue_id}", headers=as_bob)
    assert one.json()["request"]["resource"] == "http_fetch"
    assert (
        await api.get(f"/v1/policy/requeue/{blocked.requeue_id}", headers=stranger)
    ).status_code == 404
    other_tenant = await api.get("/v1/policy/requeue", params={"tenant": "x"}, headers=as_bob)
    assert other_tenant.status_code == 403
    assert (await api.get("/v1/policy/requeue")).status_code == 401

    url = f"/v1/policy/requeue/{blocked.requeue_id}/resolve"
    refused = await api.post(url, json={"decision": "allow", "reason": "pls"}, headers=as_bob)
    assert refused.status_code == 403
    assert "not an admin" in refused.json()["error"]["message"]
    bad = await api.post(url, json={"decision": "maybe", "reason": "x"}, headers=as_alice)
    assert bad.status_code == 422
    done = await api.post(url, json={"decision": "allow", "reason": "vetted"}, headers=as_alice)
    assert done.status_code == 200
    assert done.json()["status"] == "released"
    again = await api.post(url, json={"decision": "deny", "reason": "late"}, headers=as_alice)
    assert again.status_code == 409
