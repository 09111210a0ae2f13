"""Memory through the whole loop: a 'remember' message saves a fact (a policy-checked
MemoryOperation in the turn), a later 'recall' message in another session finds it by meaning."""

from __future__ import annotations

import uuid

import asyncpg
import orjson

from somaagent.domain.event_types import MEMORY_OPERATION_RECORDED, TOOL_RESULT_RECEIVED
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings

from .conftest import Send, running_worker, watch_turn
from .test_tool_turns import running_executor


async def turn_events(pool: asyncpg.Pool, correlation: str) -> dict[str, list[dict]]:
    rows = await pool.fetch(
        "SELECT type, body FROM events WHERE correlation_id = $1 ORDER BY seq", correlation
    )
    found: dict[str, list[dict]] = {}
    for row in rows:
        found.setdefault(row["type"], []).append(orjson.loads(row["body"])["payload"])
    return found


async def test_remember_then_recall_in_another_session(
    worker_settings: WorkerSettings, settings: CommonSettings, send: Send, pg_pool: asyncpg.Pool
) -> None:
    tenant = f"tenant-mem-{uuid.uuid4().hex[:8]}"
    async with running_executor(worker_settings), running_worker(worker_settings):
        _, saving = await send("remember that my favourite colour is green", tenant)
        saved = await watch_turn(settings, worker_settings.topics.outbound, saving)
        _, asking = await send("do you remember my favourite colour?", tenant)
        asked = await watch_turn(settings, worker_settings.topics.outbound, asking)

    assert saved.final()["status"] == asked.final()["status"] == "completed"
    first = await turn_events(pg_pool, saving)
    (write,) = first[MEMORY_OPERATION_RECORDED]
    assert write["kind"] == "write" and "green" in write["content"]
    assert write["verdict"]["allow"] is True and write["verdict"]["constitution_hash"]
    second = await turn_events(pg_pool, asking)
    (recall,) = second[TOOL_RESULT_RECEIVED]
    assert recall["tool"] == "memory_load" and recall["status"] == "ok"
    assert "green" in recall["stdout"]  # found by meaning, across sessions of the tenant
    (read,) = second[MEMORY_OPERATION_RECORDED]
    assert read["kind"] == "read"
