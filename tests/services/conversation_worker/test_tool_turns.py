"""The tool loop end to end: the real model writes the tool's arguments, the executor runs
it in the sandbox and answers on tool.results, the answer streams, all of it persisted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import orjson

from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    POLICY_VERDICT_RECORDED,
    TOOL_CALL_REQUESTED,
    TOOL_RESULT_RECEIVED,
    TURN_COMPLETED,
)
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings
from somaagent.settings import CommonSettings

from .conftest import Send, running_worker, watch_turn


@contextlib.asynccontextmanager
async def running_executor(worker: WorkerSettings) -> AsyncIterator[None]:
    settings = ToolExecutorSettings(
        **worker.model_dump(include={"state_dir", "cache_dir", "kafka", "postgres", "redis"}),
        policy=worker.policy,
    )
    async with ToolExecutorService(
        settings,
        requests_topic=worker.topics.tool_requests,
        results_topic=worker.topics.tool_results,
        group_id=worker.worker.group_id + "-tools",
        serve_metrics=False,
    ) as service:
        task = asyncio.create_task(service.run())
        try:
            yield
        finally:
            await service.shutdown()
            await asyncio.wait_for(task, 60)


async def test_model_calls_code_execution_and_answers_from_its_output(
    worker_settings: WorkerSettings, settings: CommonSettings, send: Send, pg_pool: asyncpg.Pool
) -> None:
    async with running_executor(worker_settings), running_worker(worker_settings):
        _, correlation = await send("execute this python code: print(6*7)", "tenant-tools")
        watch = await watch_turn(settings, worker_settings.topics.outbound, correlation)

    statuses = [u["status"] for u in watch.updates]
    assert watch.final()["status"] == "completed", watch.updates[-3:]
    assert "calling_tool" in statuses and "tool_result" in statuses
    assert (
        statuses.index("calling_tool") < statuses.index("tool_result") < statuses.index("streaming")
    )
    assert watch.text_of_last_attempt() == watch.final()["text"]

    rows = await pg_pool.fetch(
        "SELECT type, body FROM events WHERE correlation_id = $1 ORDER BY seq", correlation
    )
    types = [r["type"] for r in rows]
    assert types == [
        MESSAGE_RECEIVED,
        TOOL_CALL_REQUESTED,
        TOOL_RESULT_RECEIVED,
        POLICY_VERDICT_RECORDED,
        TURN_COMPLETED,
    ]
    call = orjson.loads(rows[1]["body"])["payload"]
    result = orjson.loads(rows[2]["body"])["payload"]
    assert call["tool"] == "code_execution"
    assert result["status"] == "ok" and "42" in result["stdout"]
    verdict = orjson.loads(rows[3]["body"])["payload"]
    assert verdict["allow"] is True and verdict["constitution_hash"]
    turn = orjson.loads(rows[4]["body"])["payload"]
    assert turn["tool_calls"][0]["request_id"] == result["request_id"]
    assert turn["policy_verdicts"][0]["allow"] is True
    assert turn["usage"]["prompt_tokens"] > 0


async def test_a_tool_that_never_answers_times_out_into_a_visible_error(
    worker_settings: WorkerSettings, settings: CommonSettings, send: Send, pg_pool: asyncpg.Pool
) -> None:
    quick = worker_settings.model_copy(
        update={
            "worker": worker_settings.worker.model_copy(
                update={"tool_timeout_s": 1.0, "expiry_interval_s": 0.5}
            )
        }
    )
    async with running_worker(quick):  # no tool executor: nobody answers tool.requests
        _, correlation = await send("execute this python code: print(1)", "tenant-timeout")
        watch = await watch_turn(settings, quick.topics.outbound, correlation, timeout_s=60)

    statuses = [u["status"] for u in watch.updates]
    assert "calling_tool" in statuses
    assert watch.final()["status"] == "error"
    assert watch.final()["reason"] == "code_execution did not answer in time"
    state = await pg_pool.fetchval(
        "SELECT status FROM turn_state WHERE correlation_id = $1", correlation
    )
    assert state == "failed"
    rows = await pg_pool.fetch(
        "SELECT type, body FROM events WHERE correlation_id = $1 ORDER BY seq", correlation
    )
    turn = orjson.loads(rows[-1]["body"])["payload"]
    assert turn["status"] == "error" and turn["error"] == watch.final()["reason"]
