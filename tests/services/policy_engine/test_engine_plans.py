"""OPA and OpenFGA asked at once: verdicts stay those of the checks OPA names now."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from somaagent.adapters.opa import OpaClient, RelationCheck
from somaagent.adapters.openfga import OpenFgaClient, persona_ref, tool_ref
from somaagent.devstack import Stack
from somaagent.domain.policy import PolicyRequest
from somaagent.services.policy_engine import ConstitutionWatch, PolicyEngine
from somaagent.settings import CommonSettings, repo_root


@pytest.fixture
async def engine(stack: Stack, settings: CommonSettings) -> AsyncIterator[PolicyEngine]:
    async with OpaClient(settings.opa) as opa, OpenFgaClient(settings.openfga) as fga:
        yield PolicyEngine(opa, fga, ConstitutionWatch(repo_root() / "policies"))


def _fetch(tenant: str, persona: str = "helper") -> PolicyRequest:
    return PolicyRequest(
        tenant=tenant,
        persona=persona,
        action="tool.request",
        resource="http_fetch",
        payload={"url": "https://example.com/page"},
    )


async def test_repeated_decisions_follow_openfga(
    engine: PolicyEngine, unique: Callable[[str], str]
) -> None:
    tenant = unique("tenant")
    grant = (persona_ref(tenant, "helper"), "user", tool_ref(tenant, "http_fetch"))
    await engine.fga.write([grant])
    first = await engine.evaluate(_fetch(tenant))  # OPA, then OpenFGA; checks remembered
    assert first.allow
    key = (first.constitution_hash, tenant, "helper", "tool.request", "http_fetch")
    assert engine.plans[key] == (RelationCheck(user=grant[0], relation="user", object=grant[2]),)
    await engine.fga.delete([grant])
    second = await engine.evaluate(_fetch(tenant))  # both at once from now on
    assert not second.allow
    assert second.reasons == [
        f"relationship missing: persona:{tenant}/helper is not user of tool:{tenant}/http_fetch"
    ]
    await engine.fga.write([grant])
    assert (await engine.evaluate(_fetch(tenant))).allow


async def test_a_remembered_plan_that_opa_no_longer_names_does_not_decide(
    engine: PolicyEngine, unique: Callable[[str], str]
) -> None:
    tenant = unique("tenant")
    other = (persona_ref(tenant, "other"), "user", tool_ref(tenant, "http_fetch"))
    await engine.fga.write([other])  # granted, but not what OPA asks for "helper"
    chash = engine.constitution_hash
    engine.plans[(chash, tenant, "helper", "tool.request", "http_fetch")] = (
        RelationCheck(user=other[0], relation="user", object=other[2]),
    )
    verdict = await engine.evaluate(_fetch(tenant))
    assert not verdict.allow
    assert verdict.reasons == [
        f"relationship missing: persona:{tenant}/helper is not user of tool:{tenant}/http_fetch"
    ]
    key = (chash, tenant, "helper", "tool.request", "http_fetch")
    assert [c.user for c in engine.plans[key]] == [persona_ref(tenant, "helper")]
