"""A message that slipped past the gateway's check (here: published straight to Kafka with a
NUL) fails visibly: an error on the stream with the reason, a failed turn in the history."""

from __future__ import annotations

import asyncpg

from somaagent.domain.event_types import MESSAGE_RECEIVED, TURN_COMPLETED
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings

from .conftest import Send, running_worker, watch_turn
from .test_turns import stored


async def test_a_nul_in_the_text_fails_the_turn_with_a_reason_and_is_recorded(
    worker_settings: WorkerSettings, settings: CommonSettings, send: Send, pg_pool: asyncpg.Pool
) -> None:
    async with running_worker(worker_settings):
        session, correlation = await send("a\u0000b", "tenant-bad-input")
        watch = await watch_turn(settings, worker_settings.topics.outbound, correlation)

    final = watch.final()
    assert final["status"] == "error", watch.updates
    assert final["reason"] == "text: holds U+0000 (NUL) at index 1, which PostgreSQL cannot store"
    events = await stored(pg_pool, correlation)
    assert [t for t, _ in events] == [MESSAGE_RECEIVED, TURN_COMPLETED]
    assert events[0][1]["payload"]["text"] == "a\ufffdb"  # what was sent, made storable
    turn = events[-1][1]["payload"]
    assert (turn["status"], turn["session_id"]) == ("error", session)
    assert turn["error"] == final["reason"]
