"""MCP tools through the whole road: Kafka tool.requests -> policy gate (OPA + OpenFGA) ->
executor -> sandboxed MCP server -> tool.results, against the real stack."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from adapters.mcp.conftest import everything_server, time_server
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.openfga.client import persona_ref, tool_ref
from somaagent.adapters.postgres.pool import open_pool
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.adapters.redis.mcp_catalogue import RedisMcpCatalogue
from somaagent.domain.event_types import TOOL_CALL_REQUESTED, make_event
from somaagent.domain.tools import ToolCall, ToolResult
from somaagent.services.conversation_worker.mcp_catalog import McpToolCatalog
from somaagent.services.conversation_worker.wiring import TOOL_CLASSES, ToolClassCatalog
from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings
from somaagent.settings import CommonSettings, repo_root

from .helpers import read, results_of


@pytest.fixture
def mcp_file(executor_settings: ToolExecutorSettings) -> Iterator[ToolExecutorSettings]:
    """The executor settings with a servers file declaring the time and reference servers."""
    state = repo_root() / ".state" / "mcp-tests" / uuid.uuid4().hex[:8]
    state.mkdir(parents=True)
    servers = {}
    for server in (time_server(), everything_server()):
        entry = server.model_dump(include={"command", "mounts"}, mode="json")
        servers[server.name] = entry
    path = state / "mcp_servers.yml"
    path.write_text(yaml.safe_dump({"servers": servers}))
    executor_settings.mcp.servers_file = path
    executor_settings.state_dir = state
    yield executor_settings
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
async def fga(settings: CommonSettings) -> AsyncIterator[OpenFgaClient]:
    async with OpenFgaClient(settings.openfga) as client:
        yield client


async def _run(
    settings: CommonSettings, topics: list[str], tenant: str, *calls: tuple[str, dict[str, Any]]
) -> list[ToolResult]:
    """Publish one ToolCall per (tool, arguments); their results, in order."""
    session = f"s-{uuid.uuid4().hex[:8]}"
    ids = []
    async with KafkaEventBus(settings.kafka) as bus:
        for tool, arguments in calls:
            call = ToolCall(
                tool=tool, arguments=arguments, session_id=session, tenant_id=tenant,
                correlation_id="turn-1", timeout_s=20,
            )  # fmt: skip
            event = make_event(
                TOOL_CALL_REQUESTED, call, session_id=session, tenant_id=tenant,
                correlation_id="turn-1",
            )  # fmt: skip
            await bus.publish(topics[0], event)
            ids.append(call.request_id)
    found = results_of(await read(settings, topics[1], len(calls)))
    return [found[i][0] for i in ids]


@pytest.fixture
async def mcp_executor(
    mcp_file: ToolExecutorSettings, executor_topics: list[str]
) -> AsyncIterator[ToolExecutorService]:
    requests, results, blocked = executor_topics
    service = ToolExecutorService(
        mcp_file, requests_topic=requests, results_topic=results, blocked_topic=blocked,
        group_id=f"tool-executor-{uuid.uuid4().hex[:8]}", serve_metrics=False,
    )  # fmt: skip
    async with service:
        task = asyncio.create_task(service.run())
        yield service
        await service.shutdown()
        await asyncio.wait_for(task, 30)


async def test_granted_time_tool_answers_through_kafka_and_policy(
    mcp_executor: ToolExecutorService, settings: CommonSettings, executor_topics: list[str],
    fga: OpenFgaClient,
) -> None:  # fmt: skip
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await fga.write(
        [(persona_ref(tenant, "default"), "user", tool_ref(tenant, "time_get_current_time"))]
    )
    ok, bad = await _run(
        settings,
        executor_topics,
        tenant,
        ("time_get_current_time", {"timezone": "Asia/Tokyo"}),
        ("time_get_current_time", {"timezone": 9}),
    )
    assert ok.status == "ok", ok.reason
    assert ok.data is not None and ok.data["timezone"] == "Asia/Tokyo"
    assert "+09:00" in ok.stdout
    assert bad.status == "invalid"
    assert "timezone" in (bad.reason or "") and "not of type 'string'" in (bad.reason or "")


async def test_ungranted_mcp_tool_is_denied_and_held_in_the_requeue_store(
    mcp_executor: ToolExecutorService, settings: CommonSettings, executor_topics: list[str],
    executor_settings: ToolExecutorSettings,
) -> None:  # fmt: skip
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    (result,) = await _run(
        settings, executor_topics, tenant, ("time_get_current_time", {"timezone": "UTC"})
    )
    assert result.status == "denied"
    pool = await open_pool(executor_settings.postgres)
    redis = aioredis.Redis(host=settings.redis.host, port=settings.redis.port)
    try:
        items = await PostgresRequeueStore(pool, redis).list_items(tenant)
    finally:
        await pool.close()
        await redis.aclose()
    assert [i.request.resource for i in items] == ["time_get_current_time"], items


async def test_image_content_becomes_an_attachment(
    mcp_executor: ToolExecutorService, settings: CommonSettings, executor_topics: list[str],
    fga: OpenFgaClient,
) -> None:  # fmt: skip
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    registry = mcp_executor.executor.registry  # type: ignore[union-attr]
    tool = next(n for n in registry.names() if n.startswith("everything_") and "image" in n)
    await fga.write([(persona_ref(tenant, "default"), "user", tool_ref(tenant, tool))])
    (result,) = await _run(settings, executor_topics, tenant, (tool, {}))
    assert result.status == "ok", result.reason
    assert [a.media_type for a in result.attachments] == ["image/png"]


async def _published(settings: ToolExecutorSettings) -> RedisMcpCatalogue:
    redis = aioredis.Redis(host=settings.redis.host, port=settings.redis.port)
    store = RedisMcpCatalogue(redis, key_prefix=settings.redis.key_prefix)
    for _ in range(50):
        if await store.read() is not None:
            break
        await asyncio.sleep(0.1)
    return store


async def test_worker_catalogue_offers_published_tools_a_persona_lists(
    mcp_executor: ToolExecutorService, mcp_file: ToolExecutorSettings
) -> None:
    store = await _published(mcp_file)
    catalog = McpToolCatalog(ToolClassCatalog(TOOL_CLASSES), store)
    await catalog.settled()  # the read its construction started
    specs = catalog.specs(["web_search", "time_get_current_time", "time_no_such_tool"])
    await catalog.aclose()
    await store.redis.aclose()
    assert [s.name for s in specs] == ["web_search", "time_get_current_time"]
    assert specs[1].parameters["properties"]["timezone"]["type"] == "string"
    assert catalog.specs(["web_search"]) == specs[:1]


async def test_soma_mcp_list_shows_servers_state_and_tools(
    mcp_executor: ToolExecutorService, mcp_file: ToolExecutorSettings
) -> None:
    store = await _published(mcp_file)
    await store.redis.aclose()
    env = {
        **os.environ,
        "SOMA_REDIS__KEY_PREFIX": mcp_file.redis.key_prefix,
        "SOMA_MCP__SERVERS_FILE": str(mcp_file.mcp.servers_file),
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        str(repo_root() / ".venv/bin/soma"), "mcp", "list", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "time_get_current_time" in text and "everything_echo" in text
    assert text.count("ready") == 2, text
