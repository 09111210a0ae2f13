"""A revoked relationship is denied on the next decision, not after the cache's TTL.

Real engine, OPA, OpenFGA and Redis. Relationships are written the product's way: tenant
admins through TenantAdmins, tool grants through OpenFgaClient.write/delete, each client
built with `on_change=epoch.bump`. A second client without the epoch shows what the
epoch prevents: it keeps serving the cached allow for the TTL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from somaagent.adapters.openfga import OpenFgaClient, persona_ref, tool_ref
from somaagent.adapters.redis.policy_epoch import RedisPolicyEpoch
from somaagent.application.policy import HttpPolicyClient, PolicyClientSettings
from somaagent.application.policy.admins import TenantAdmins
from somaagent.domain.policy import PolicyRequest
from somaagent.settings import CommonSettings


@pytest.fixture
async def epoch(redis_client: aioredis.Redis, redis_prefix: str) -> AsyncIterator[RedisPolicyEpoch]:
    yield RedisPolicyEpoch(redis_client, key_prefix=redis_prefix)
    await redis_client.delete(redis_prefix + "soma:policy:epoch")


def _clients(url: str, epoch: RedisPolicyEpoch) -> tuple[HttpPolicyClient, HttpPolicyClient]:
    settings = PolicyClientSettings(url=url, cache_ttl_s=60)
    return HttpPolicyClient(settings, epoch=epoch), HttpPolicyClient(settings)


async def test_revoked_tool_grant_is_denied_at_once(
    engine_url: str,
    settings: CommonSettings,
    unique: Callable[[str], str],
    tool_request: Callable[..., dict[str, Any]],
    epoch: RedisPolicyEpoch,
) -> None:
    tenant = unique("tenant")
    request = PolicyRequest(**tool_request(tenant))
    grant = (persona_ref(tenant, "helper"), "user", tool_ref(tenant, "http_fetch"))
    watched, unwatched = _clients(engine_url, epoch)
    async with OpenFgaClient(settings.openfga, on_change=epoch.bump) as fga, watched, unwatched:
        await fga.write([grant])
        allowed = await watched.evaluate(request)
        assert allowed.allow
        assert (await watched.evaluate(request)).decision_id == allowed.decision_id  # cached
        stale = await unwatched.evaluate(request)
        assert stale.allow
        await fga.delete([grant])
        denied = await watched.evaluate(request)
        assert not denied.allow
        assert denied.reasons == [
            f"relationship missing: persona:{tenant}/helper is not user of tool:{tenant}/http_fetch"
        ]
        # Without the epoch the allow outlives the revocation (until cache_ttl_s).
        assert (await unwatched.evaluate(request)).decision_id == stale.decision_id
        await fga.write([grant])
        assert (await watched.evaluate(request)).allow  # a new grant is seen at once too


async def test_revoked_tenant_admin_cannot_resolve_at_once(
    engine_url: str,
    settings: CommonSettings,
    unique: Callable[[str], str],
    epoch: RedisPolicyEpoch,
) -> None:
    tenant, alice, bob = unique("tenant"), unique("alice"), unique("bob")
    request = PolicyRequest(
        tenant=tenant, persona=alice, action="requeue.resolve", resource="requeue-item"
    )
    watched, _ = _clients(engine_url, epoch)
    async with OpenFgaClient(settings.openfga, on_change=epoch.bump) as fga, watched:
        admins = TenantAdmins(fga)
        await admins.grant(tenant, alice, actor="test")
        await admins.grant(tenant, bob, actor="test")
        allowed = await watched.evaluate(request)
        assert allowed.allow
        assert (await watched.evaluate(request)).decision_id == allowed.decision_id  # cached
        await admins.revoke(tenant, alice, actor=f"user:{bob}")
        denied = await watched.evaluate(request)
        assert not denied.allow
        assert denied.reasons == [
            f"relationship missing: user:{alice} is not admin of tenant:{tenant}"
        ]
