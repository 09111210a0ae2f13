"""The engine's HTTP layer through httpx.ASGITransport, on the real OPA and OpenFGA."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from somaagent.adapters.opa import OpaClient
from somaagent.adapters.openfga import OpenFgaClient, persona_ref, tool_ref
from somaagent.devstack import Stack
from somaagent.services.policy_engine import (
    ConstitutionWatch,
    PolicyEngine,
    constitution_hash,
    create_app,
)
from somaagent.settings import CommonSettings, OpaSettings, repo_root


@pytest.fixture
async def api(stack: Stack, settings: CommonSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with OpaClient(settings.opa) as opa, OpenFgaClient(settings.openfga) as fga:
        engine = PolicyEngine(opa, fga, ConstitutionWatch(repo_root() / "policies"))
        transport = httpx.ASGITransport(app=create_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
            yield client


def _request(tenant: str, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "tenant": tenant,
        "persona": "helper",
        "action": "tool.request",
        "resource": "http_fetch",
        "payload": {"url": "https://example.com/page"},
        "context": {},
    }
    body.update(changes)
    return body


async def test_relationship_decides_http_fetch(
    api: httpx.AsyncClient, settings: CommonSettings, unique: Callable[[str], str]
) -> None:
    tenant = unique("tenant")
    denied = (await api.post("/v1/evaluate", json=_request(tenant))).json()
    assert denied["allow"] is False
    assert denied["reasons"] == [
        f"relationship missing: persona:{tenant}/helper is not user of tool:{tenant}/http_fetch"
    ]
    async with OpenFgaClient(settings.openfga) as fga:
        await fga.write([(persona_ref(tenant, "helper"), "user", tool_ref(tenant, "http_fetch"))])
    allowed = (await api.post("/v1/evaluate", json=_request(tenant))).json()
    assert allowed["allow"] is True
    assert allowed["reasons"] == []
    assert allowed["decision_id"] != denied["decision_id"]
    assert set(allowed) == {
        "allow",
        "reasons",
        "decision_id",
        "policy_version",
        "constitution_hash",
        "evaluated_at",
        "canary",
    }


async def test_colon_ids_reach_openfga_escaped(
    api: httpx.AsyncClient, settings: CommonSettings, unique: Callable[[str], str]
) -> None:
    tenant = f"{unique('acme')}:eu"
    body = _request(tenant, persona="sso:helper")
    assert (await api.post("/v1/evaluate", json=body)).json()["allow"] is False
    async with OpenFgaClient(settings.openfga) as fga:
        await fga.write(
            [(persona_ref(tenant, "sso:helper"), "user", tool_ref(tenant, "http_fetch"))]
        )
    assert (await api.post("/v1/evaluate", json=body)).json()["allow"] is True


async def test_every_verdict_names_the_constitution(
    api: httpx.AsyncClient, unique: Callable[[str], str]
) -> None:
    expected = constitution_hash(repo_root() / "policies")
    verdict = (await api.post("/v1/evaluate", json=_request(unique("t")))).json()
    assert verdict["constitution_hash"] == expected
    assert (await api.get("/healthz")).json()["constitution_hash"] == expected


async def test_unknown_action_denied_with_reason(
    api: httpx.AsyncClient, unique: Callable[[str], str]
) -> None:
    resp = await api.post("/v1/evaluate", json=_request(unique("t"), action="tool.destroy"))
    assert resp.status_code == 200
    assert resp.json()["allow"] is False
    assert resp.json()["reasons"] == ["C6: unknown action 'tool.destroy'"]


async def test_bad_input_names_the_field(api: httpx.AsyncClient) -> None:
    resp = await api.post("/v1/evaluate", json=_request("has space", persona=""))
    assert resp.status_code == 422
    fields = {f["field"] for f in resp.json()["fields"]}
    assert fields == {"tenant", "persona"}
    assert "tenant:" in resp.json()["error"]


async def test_secret_material_denied_by_rule_c1(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/v1/evaluate",
        json=_request("t1", resource="code_execution", payload={"code": "AKIAABCDEFGHIJKLMNOP"}),
    )
    assert resp.json()["reasons"] == ["C1: the payload carries secret material"]


async def test_opa_down_is_a_503_not_a_verdict(stack: Stack, settings: CommonSettings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = OpaSettings(url=f"http://127.0.0.1:{port}", timeout_s=0.5)
    async with OpaClient(dead) as opa, OpenFgaClient(settings.openfga) as fga:
        engine = PolicyEngine(opa, fga, ConstitutionWatch(repo_root() / "policies"))
        transport = httpx.ASGITransport(app=create_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
            resp = await client.post("/v1/evaluate", json=_request("t1"))
    assert resp.status_code == 503
    assert resp.json()["retriable"] is True
    assert "opa" in resp.json()["error"]
