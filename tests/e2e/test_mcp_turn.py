"""A turn that needs a third-party MCP tool: gateway -> worker (the model picks the tool from
the catalogue the executor published) -> Kafka -> policy gate (OpenFGA grant) -> executor ->
mcp-server-time in the sandbox -> the answer states the time."""

from __future__ import annotations

import asyncio

import httpx
import redis.asyncio as aioredis

from e2e.conftest import User, finished_turn
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.openfga.client import persona_ref, tool_ref
from somaagent.adapters.redis.mcp_catalogue import RedisMcpCatalogue
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings

TOOL = "time_get_current_time"


async def offered(settings: CommonSettings) -> None:
    """Until the executor has published the tool, and the worker has had time to read it."""
    redis = aioredis.Redis(host=settings.redis.host, port=settings.redis.port)
    store = RedisMcpCatalogue(redis, key_prefix=settings.redis.key_prefix)
    try:
        for _ in range(100):
            document = await store.read() or {}
            if any(t["platform_name"] == TOOL for t in document.get("tools", [])):
                break
            await asyncio.sleep(0.2)
    finally:
        await redis.aclose()
    await asyncio.sleep(1.5)  # the worker's catalogue re-reads every second


async def test_what_time_is_it_in_tokyo_reaches_the_time_server(
    api: httpx.AsyncClient, web_tools: WorkerSettings, settings: CommonSettings, user: User
) -> None:
    async with OpenFgaClient(settings.openfga) as fga:
        await fga.write(
            [(persona_ref(user.tenant_id, "clock"), "user", tool_ref(user.tenant_id, TOOL))]
        )
    await offered(settings)
    r = await api.post("/v1/sessions", json={"persona_id": "clock"}, headers=user.headers)
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    r = await api.post(
        f"/v1/sessions/{sid}/messages", json={"text": "What time is it in Tokyo?"},
        headers=user.headers,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    turn = await finished_turn(api, user, sid, r.json()["correlation_id"], timeout_s=240)
    assert turn["status"] == "completed", turn
    (call,) = turn["tool_calls"]
    (result,) = turn["tool_results"]
    assert call["tool"] == TOOL and call["arguments"] == {"timezone": "Asia/Tokyo"}, call
    assert result["status"] == "ok", result
    stamp = result["data"]["datetime"]  # e.g. 2026-12-04T21:14:23+09:00
    assert stamp.endswith("+09:00")
    hour, minute = int(stamp[11:13]), stamp[14:16]
    said = turn["assistant_message"]
    assert f"{hour}:{minute}" in said or f"{hour % 12 or 12}:{minute}" in said, said
