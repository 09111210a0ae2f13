"""memory_save / memory_load through the executor: real embeddings, real policy, real SQL."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.services.tool_executor import ToolExecutorService
from somaagent.settings import CommonSettings

from .helpers import read, request, results_of

FACTS = (
    "The user's dog is called Biscuit and loves the beach.",
    "Invoices are due on the fifth working day of each month.",
    "The production database runs PostgreSQL 15 in Frankfurt.",
)


async def test_saved_facts_are_recalled_by_meaning(
    running_executor: ToolExecutorService,
    executor_topics: list[str],
    settings: CommonSettings,
    pg_pool: asyncpg.Pool,
    unique: Callable[[str], str],
) -> None:
    requests, results, blocked = executor_topics
    session = unique("s")
    saves = [request(session, "memory_save", content=fact) for fact in FACTS]
    secret = request(session, "memory_save", content="a secret", namespace="vault")
    async with KafkaEventBus(settings.kafka) as bus:
        for ev in (*saves, secret):
            await bus.publish(requests, ev)
        found = results_of(await read(settings, results, 4))
        recall = request(session, "memory_load", query="What is my pet's name?", limit=2)
        await bus.publish(requests, recall)
    for ev in saves:
        (saved,) = found[ev.payload["request_id"]]
        assert saved.status == "ok"
        assert saved.data is not None and saved.data["operation"]["verdict"]["allow"] is True
    (denied,) = found[secret.payload["request_id"]]
    assert denied.status == "denied"  # vault is not an open namespace and no grant exists
    assert denied.data is not None and denied.data["operation"]["kind"] == "write"
    (held,) = await read(settings, blocked, 1)
    assert b"memory.write" in held.value
    stored = await pg_pool.fetchval("SELECT count(*) FROM memories WHERE content = 'a secret'")
    assert stored == 0
    (answer,) = results_of(await read(settings, results, 5))[recall.payload["request_id"]]
    assert answer.status == "ok"
    assert answer.data is not None
    memories = answer.data["memories"]
    assert memories[0]["content"] == FACTS[0]
    assert memories[0]["score"] > memories[1]["score"]
