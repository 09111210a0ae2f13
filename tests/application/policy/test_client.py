"""The shared policy client against a real engine: cache, fail-closed, canary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from somaagent.adapters.openfga import OpenFgaClient, persona_ref, tool_ref
from somaagent.application.policy import HttpPolicyClient, PolicyClientSettings
from somaagent.domain.policy import PolicyRequest
from somaagent.settings import CommonSettings

from .conftest import free_port


def _would_block(tenant: str) -> float:
    value = REGISTRY.get_sample_value("policy_canary_would_block_total", {"tenant": tenant})
    return value or 0.0


async def test_allows_are_cached_denials_are_not(
    engine_url: str,
    settings: CommonSettings,
    unique: Callable[[str], str],
    tool_request: Callable[..., dict[str, Any]],
) -> None:
    tenant = unique("tenant")
    request = PolicyRequest(**tool_request(tenant))
    async with HttpPolicyClient(PolicyClientSettings(url=engine_url, cache_ttl_s=30)) as client:
        first = await client.evaluate(request)
        second = await client.evaluate(request)
        assert not first.allow
        assert first.decision_id != second.decision_id  # denial asked twice
        async with OpenFgaClient(settings.openfga) as fga:
            await fga.write(
                [(persona_ref(tenant, "helper"), "user", tool_ref(tenant, "http_fetch"))]
            )
        allowed = await client.evaluate(request)
        again = await client.evaluate(request)
        assert allowed.allow
        assert again.decision_id == allowed.decision_id  # served from the cache
        fresh = await client.evaluate(request, use_cache=False)
        assert fresh.allow
        assert fresh.decision_id != allowed.decision_id
        other = PolicyRequest(**tool_request(tenant, payload={"url": "https://example.org/"}))
        assert (await client.evaluate(other)).decision_id != allowed.decision_id


async def test_unreachable_engine_fails_closed(tool_request: Callable[..., dict[str, Any]]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with HttpPolicyClient(PolicyClientSettings(url=url, timeout_s=0.5)) as client:
        verdict = await client.evaluate(PolicyRequest(**tool_request("t1", resource="web_search")))
    assert not verdict.allow
    assert verdict.reasons[0].startswith("fail-closed: policy engine unreachable")


async def test_canary_tenant_lets_through_and_counts(
    engine_url: str, unique: Callable[[str], str], tool_request: Callable[..., dict[str, Any]]
) -> None:
    canary, enforced = unique("canary"), unique("enforced")
    config = PolicyClientSettings(url=engine_url, canary_tenants=frozenset({canary}))
    async with HttpPolicyClient(config) as client:
        let_through = await client.evaluate(PolicyRequest(**tool_request(canary)))
        blocked = await client.evaluate(PolicyRequest(**tool_request(enforced)))
    assert let_through.allow and let_through.canary
    assert let_through.reasons  # the would-block reasons are kept
    assert not blocked.allow and not blocked.canary
    assert _would_block(canary) == 1.0
    assert _would_block(enforced) == 0.0


async def test_global_canary_also_covers_engine_failure(
    unique: Callable[[str], str], tool_request: Callable[..., dict[str, Any]]
) -> None:
    tenant = unique("tenant")
    url = f"http://127.0.0.1:{free_port()}"
    config = PolicyClientSettings(url=url, timeout_s=0.5, canary_global=True)
    async with HttpPolicyClient(config) as client:
        verdict = await client.evaluate(PolicyRequest(**tool_request(tenant)))
    assert verdict.allow and verdict.canary
    assert verdict.reasons[0].startswith("fail-closed:")
    assert _would_block(tenant) == 1.0
