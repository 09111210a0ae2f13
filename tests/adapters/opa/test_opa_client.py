"""The OPA adapter against the stack's OPA serving policies/opa."""

from __future__ import annotations

import socket

import pytest

from somaagent.adapters.opa import OpaClient, RelationCheck
from somaagent.devstack import Stack
from somaagent.domain.errors import BackendUnavailableError
from somaagent.settings import CommonSettings, OpaSettings


def _input(
    resource: str, payload: dict[str, object], action: str = "tool.request"
) -> dict[str, object]:
    return {
        "tenant": "t1",
        "persona": "p1",
        "action": action,
        "resource": resource,
        "payload": payload,
        "context": {},
    }


async def test_known_tool_allowed_with_no_relationship_checks(
    stack: Stack, settings: CommonSettings
) -> None:
    async with OpaClient(settings.opa) as opa:
        decision = await opa.decide(_input("web_search", {"query": "asyncio"}))
    assert decision.allow
    assert decision.checks == []
    assert decision.policy_version


async def test_http_fetch_off_allow_list_denied_with_reason(
    stack: Stack, settings: CommonSettings
) -> None:
    async with OpaClient(settings.opa) as opa:
        decision = await opa.decide(_input("http_fetch", {"url": "https://evil.test/a"}))
    assert not decision.allow
    assert decision.reasons == ['C2: host "evil.test" is not on the allow-list']


async def test_http_fetch_asks_for_the_tool_grant(stack: Stack, settings: CommonSettings) -> None:
    async with OpaClient(settings.opa) as opa:
        decision = await opa.decide(_input("http_fetch", {"url": "https://www.example.com/"}))
    assert decision.allow
    assert decision.checks == [
        RelationCheck(user="persona:t1/p1", relation="user", object="tool:t1/http_fetch")
    ]


async def test_unreachable_opa_raises_backend_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with OpaClient(OpaSettings(url=f"http://127.0.0.1:{port}", timeout_s=1.0)) as opa:
        with pytest.raises(BackendUnavailableError, match="opa"):
            await opa.decide(_input("web_search", {}))
