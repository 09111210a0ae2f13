"""A real gateway, worker and tool executor, and Debian's Chromium (never a downloaded
browser) for the web client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, async_playwright

from services.conversation_worker.conftest import running_worker
from services.conversation_worker.test_tool_turns import running_executor
from services.gateway.conftest import RunningGateway, start_gateway, stop_gateway
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.application.policy import PolicyClientSettings
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.constants import dlq_topic
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.services.conversation_worker.settings import WorkerSection, WorkerTopics
from somaagent.services.gateway import GatewaySection, GatewaySettings
from somaagent.settings import CommonSettings, repo_root

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = repo_root() / "test-artifacts"


@pytest.fixture(scope="session")
async def web_gateway(settings: CommonSettings, migrated: str) -> AsyncIterator[RunningGateway]:
    run = uuid.uuid4().hex[:8]
    inbound, outbound = f"test.web.{run}.inbound", f"test.web.{run}.outbound"
    await ensure_topics(settings.kafka.bootstrap, [inbound, outbound], 2)
    gw_settings = GatewaySettings(
        kafka=settings.kafka,
        postgres=settings.postgres,
        redis=settings.redis,
        gateway=GatewaySection(inbound_topic=inbound, outbound_topic=outbound),
    )
    gw = await start_gateway(gw_settings)
    yield gw
    await stop_gateway(gw)


@pytest.fixture(scope="session")
async def web_worker(
    web_gateway: RunningGateway, settings: CommonSettings, policy_url: str, seeded_profiles: None
) -> AsyncIterator[WorkerSettings]:
    """The real conversation worker behind the web gateway's topics."""
    run = uuid.uuid4().hex[:8]
    section = web_gateway.settings.gateway
    topics = WorkerTopics(
        inbound=section.inbound_topic,
        outbound=section.outbound_topic,
        tool_requests=f"test.web.{run}.tool-requests",
        tool_results=f"test.web.{run}.tool-results",
    )
    await ensure_topics(
        settings.kafka.bootstrap,
        [topics.tool_requests, topics.tool_results, dlq_topic(topics.inbound)],
        2,
    )
    worker_settings = WorkerSettings(
        **settings.model_dump(exclude={"environment"}),
        worker=WorkerSection(
            metrics_port=0,
            group_id=f"test-web-{run}",
            answer_max_tokens=64,
            slm_embed_timeout_s=5.0,
        ),
        policy=PolicyClientSettings(url=policy_url),
        topics=topics,
    )
    async with running_worker(worker_settings):
        yield worker_settings


@pytest.fixture(scope="session")
async def web_tools(web_worker: WorkerSettings) -> AsyncIterator[WorkerSettings]:
    """The real tool executor (sandboxed code_execution, ...) on the web worker's topics."""
    async with running_executor(web_worker):
        yield web_worker


def _chromium_present() -> bool:
    return Path(CHROMIUM).exists()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not _chromium_present():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (never playwright install)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def user_key(pg_pool: asyncpg.Pool) -> tuple[str, str]:
    tenant = f"web-{uuid.uuid4().hex[:10]}"
    key, _ = await ApiKeyStore(pg_pool).create(tenant, "user", "dana")
    return tenant, key


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
