"""The claim lease: a call whose executor was killed is taken over within seconds; a live
slow call is not, however long it runs (its owner renews the lease while it runs)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings
from somaagent.services.tool_executor.metrics import REDELIVERED
from somaagent.settings import CommonSettings

from .helpers import read, request, results_of

log = logging.getLogger(__name__)

PROCESS = Path(__file__).with_name("executor_process.py")


@asynccontextmanager
async def executor(
    settings: ToolExecutorSettings, topics: list[str], group: str
) -> AsyncIterator[ToolExecutorService]:
    requests, results, blocked = topics
    service = ToolExecutorService(
        settings, requests_topic=requests, results_topic=results, blocked_topic=blocked,
        group_id=group, serve_metrics=False,
    )  # fmt: skip
    async with service:
        task = asyncio.create_task(service.run())
        yield service
        await service.shutdown()
        await asyncio.wait_for(task, 60)


async def claimed_by(pool: asyncpg.Pool, schema: str, request_id: str) -> str:
    """The owner of the request's claim, once some executor claimed it."""
    query = f'SELECT owner FROM "{schema}".tool_executions WHERE request_id = $1'
    for _ in range(450):
        if (owner := await pool.fetchval(query, request_id)) is not None:
            return str(owner)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no executor claimed {request_id} within 90 s")


async def count_results(settings: CommonSettings, topic: str, request_id: str) -> int:
    """How many results for `request_id` the topic holds after a few quiet seconds."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        records = []
        for _ in range(6):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return len(results_of(records).get(request_id, []))
    finally:
        await consumer.stop()


async def test_killed_executor_is_taken_over_within_seconds(
    executor_settings: ToolExecutorSettings,
    executor_topics: list[str],
    settings: CommonSettings,
    pg_pool: asyncpg.Pool,
    migrated: str,
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    requests, results, _ = executor_topics
    group = unique("tool-executor")
    overrides = {
        "postgres": {"db_schema": migrated},
        "redis": {"key_prefix": executor_settings.redis.key_prefix},
        "policy": {"url": executor_settings.policy.url, "cache_ttl_s": 0},
        "tools": {
            "workspace_dir": str(executor_settings.workspace_root()),
            "limits": {"wall_timeout_s": 120},
        },
    }
    with (tmp_path / "executor-a.log").open("wb") as out:
        owner = await asyncio.create_subprocess_exec(
            sys.executable, str(PROCESS), json.dumps(overrides), *executor_topics, group,
            stdout=out, stderr=out,
        )  # fmt: skip
    slow = request(unique("s"), "code_execution", language="shell", code="sleep 100; echo late")
    request_id = slow.payload["request_id"]
    try:
        async with KafkaEventBus(settings.kafka) as bus:
            await bus.publish(requests, slow)
        first_owner = await claimed_by(pg_pool, migrated, request_id)
    finally:
        owner.kill()  # SIGKILL mid-call: no drain, no commit, no result
        await owner.wait()
    killed_at = time.monotonic()
    status = f'SELECT status FROM "{migrated}".tool_executions WHERE request_id = $1'
    assert await pg_pool.fetchval(status, request_id) == "running"  # killed mid-call
    async with executor(executor_settings, executor_topics, group) as second:
        (got,) = results_of(await read(settings, results, 1))[request_id]
        took = time.monotonic() - killed_at
        assert second.owner != first_owner
    log.warning("lease takeover %.1f s after SIGKILL (lease %.0f s)", took,
                executor_settings.tools.lease_s)  # fmt: skip
    assert got.status == "error"
    assert got.reason == "an executor died while running this request"
    assert await count_results(settings, results, request_id) == 1


async def test_live_slow_call_is_not_taken_over(
    executor_settings: ToolExecutorSettings,
    executor_topics: list[str],
    settings: CommonSettings,
    unique: Callable[[str], str],
) -> None:
    """Two live executors get the same request (two groups); the call outlives the lease
    five times over; the one that did not claim it waits and re-publishes the owner's result."""
    _, results, _ = executor_topics
    short = executor_settings.model_copy(
        update={"tools": executor_settings.tools.model_copy(update={"lease_s": 1.5})}
    )
    busy_before = REDELIVERED.labels("busy")._value.get()
    once = request(unique("s"), "code_execution", language="shell",
                   code="echo run >> runs; sleep 8; wc -l < runs")  # fmt: skip
    async with (
        executor(short, executor_topics, unique("tool-executor")),
        executor(short, executor_topics, unique("tool-executor")),
    ):
        async with KafkaEventBus(settings.kafka) as bus:
            await bus.publish(executor_topics[0], once)
        first, second = results_of(await read(settings, results, 2))[once.payload["request_id"]]
    assert REDELIVERED.labels("busy")._value.get() == busy_before + 1
    assert (first.status, first.stdout) == ("ok", "1\n")  # ran once, not reported abandoned
    assert first == second
