"""Test harness: the real stack, brought up once per run, and per-test isolation.

The stack is started with the project's own launcher (or reused when already up). Each
run migrates a schema of its own; each test gets fresh ids, Redis key prefixes and, when
it asks, fresh Kafka topics. Nothing here stands in for a server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from application.policy.conftest import serve_engine
from somaagent.adapters.postgres.migrations import upgrade
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.adapters.postgres.pool import SERVER_SETTINGS
from somaagent.application import model_profiles
from somaagent.cli.models import seed_urls
from somaagent.devstack import Stack
from somaagent.devstack.kafka import ensure_topics
from somaagent.settings import CommonSettings, repo_root

RUN_ID = uuid.uuid4().hex[:8]
TEST_SCHEMA = f"test_{RUN_ID}"


@pytest.fixture(scope="session")
def settings() -> CommonSettings:
    base = CommonSettings()
    return base.model_copy(
        update={"postgres": base.postgres.model_copy(update={"db_schema": TEST_SCHEMA})}
    )


@pytest.fixture(scope="session")
def stack(settings: CommonSettings) -> Iterator[Stack]:
    """Bring the whole local stack up once (a no-op when it already runs)."""
    stack = Stack(settings)
    stack.up()
    yield stack


@pytest.fixture(scope="session")
async def migrated(stack: Stack, settings: CommonSettings) -> AsyncIterator[str]:
    """This run's own schema with every migration applied; dropped at the end."""
    await upgrade(settings.postgres.dsn(), repo_root() / "migrations", TEST_SCHEMA)
    yield TEST_SCHEMA
    if os.environ.get("SOMA_KEEP_TEST_SCHEMA"):
        return
    conn = await asyncpg.connect(settings.postgres.dsn())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{TEST_SCHEMA}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def pg_pool(migrated: str, settings: CommonSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        settings.postgres.dsn(),
        min_size=1,
        max_size=8,
        server_settings={**SERVER_SETTINGS, "search_path": f"{migrated},public"},
    )
    yield pool
    await pool.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Fresh ids for tenants, sessions and the like: unique per call."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
async def redis_client(stack: Stack, settings: CommonSettings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(host=settings.redis.host, port=settings.redis.port)
    yield client
    await client.aclose()


@pytest.fixture
def redis_prefix() -> str:
    return f"test:{RUN_ID}:{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def kafka_topics(stack: Stack, settings: CommonSettings) -> Callable[..., Awaitable[list[str]]]:
    """Create fresh topics named after the test, e.g. await kafka_topics("inbound")."""

    async def make(*names: str, partitions: int = 2) -> list[str]:
        topics = [f"test.{RUN_ID}.{uuid.uuid4().hex[:8]}.{n}" for n in names]
        await ensure_topics(settings.kafka.bootstrap, topics, partitions)
        return topics

    return make


@pytest.fixture(scope="session")
async def seeded_profiles(pg_pool: asyncpg.Pool, settings: CommonSettings) -> None:
    text = (repo_root() / "infra" / "models" / "profiles.yaml").read_text()
    loaded = model_profiles.parse_seed(text, seed_urls(settings))
    await model_profiles.seed(PostgresModelProfileStore(pg_pool), loaded)


@pytest.fixture(scope="session")
async def policy_url(stack: Stack, settings: CommonSettings) -> AsyncIterator[str]:
    async with serve_engine(settings) as url:
        yield url
