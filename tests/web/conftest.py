"""A real gateway and Debian's Chromium (never a downloaded browser) for the web client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, async_playwright

from services.gateway.conftest import RunningGateway, start_gateway, stop_gateway
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.devstack.kafka import ensure_topics
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
