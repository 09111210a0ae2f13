"""The conversation worker end to end on the real stack: Kafka in, streamed deltas out,
the turn persisted with token counts and latency; duplicates dropped; bad input dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.domain.constants import dlq_topic
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    make_event,
)
from somaagent.domain.llm import ModelProfile, ProfileOverride
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings

from .conftest import Send, running_worker, watch_turn


async def stored(pool: asyncpg.Pool, correlation: str) -> list[tuple[str, dict]]:
    rows = await pool.fetch(
        "SELECT type, body FROM events WHERE correlation_id = $1 ORDER BY seq", correlation
    )
    return [(r["type"], orjson.loads(r["body"])) for r in rows]


async def test_message_streams_deltas_then_completed_and_is_persisted(
    worker_settings: WorkerSettings, settings: CommonSettings, send: Send, pg_pool: asyncpg.Pool
) -> None:
    async with running_worker(worker_settings):
        session, correlation = await send("Say hello in five words.", "tenant-e2e")
        watch = await watch_turn(settings, worker_settings.topics.outbound, correlation)

    final = watch.final()
    assert final["status"] == "completed", final
    deltas = [u for u in watch.updates if u["status"] == "streaming"]
    assert len(deltas) >= 2  # token by token, not one blob
    assert [u["seq"] for u in watch.updates] == list(range(len(watch.updates)))  # no gaps
    assert watch.text_of_last_attempt() == final["text"] != ""
    assert final["usage"]["completion_tokens"] >= len(deltas) - 1
    assert final["usage"]["prompt_tokens"] > 0
    assert final["latencies"]["ttft_s"] > 0
    assert final["model_profile"].startswith("dialogue-")

    events = await stored(pg_pool, correlation)
    assert [t for t, _ in events] == [MESSAGE_RECEIVED, TURN_COMPLETED]
    turn = events[-1][1]["payload"]
    assert turn["session_id"] == session
    assert turn["assistant_message"] == final["text"]
    assert turn["usage"] == final["usage"]
    assert turn["latency_s"] > 0 and turn["ttft_s"] > 0
    assert turn["status"] == "completed"
    assert "intent" in turn["slm"] or turn["slm"]["missing"]


async def test_a_redelivered_message_is_answered_once(
    worker_settings: WorkerSettings, settings: CommonSettings, pg_pool: asyncpg.Pool
) -> None:
    event = make_event(
        MESSAGE_RECEIVED,
        MessageReceived(text="Name one colour."),
        session_id="sess-dup-" + worker_settings.worker.group_id,
        tenant_id="tenant-e2e",
        correlation_id="corr-" + worker_settings.worker.group_id,
    )
    async with KafkaEventBus(settings.kafka) as bus, running_worker(worker_settings):
        await bus.publish(worker_settings.topics.inbound, event)
        await bus.publish(worker_settings.topics.inbound, event)  # the same event again
        watch = await watch_turn(
            settings, worker_settings.topics.outbound, event.correlation_id or ""
        )
        # give the duplicate time to be consumed and dropped
        await asyncio.sleep(3)
    completed = [u for u in watch.updates if u["status"] == "completed"]
    assert len(completed) == 1
    types = [t for t, _ in await stored(pg_pool, event.correlation_id or "")]
    assert types.count(TURN_COMPLETED) == 1 and types.count(MESSAGE_RECEIVED) == 1


async def test_malformed_and_unknown_events_go_to_the_dlq_and_the_worker_goes_on(
    worker_settings: WorkerSettings, settings: CommonSettings, send: Send
) -> None:
    inbound = worker_settings.topics.inbound
    async with KafkaEventBus(settings.kafka) as bus, running_worker(worker_settings):
        await bus.publish_raw(inbound, b"s", b"{broken", {})
        future = orjson.dumps(
            {
                "type": MESSAGE_RECEIVED,
                "schema_version": 99,
                "session_id": "s",
                "tenant_id": "t",
                "payload": {"text": "hi"},
            }
        )
        await bus.publish_raw(inbound, b"s", future, {})
        _, correlation = await send("Reply with the word ok.", "tenant-e2e")
        watch = await watch_turn(settings, worker_settings.topics.outbound, correlation)
    assert watch.final()["status"] == "completed"

    consumer = AIOKafkaConsumer(
        dlq_topic(inbound), bootstrap_servers=settings.kafka.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        reasons: list[str] = []
        async with asyncio.timeout(20):
            while len(reasons) < 2:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    reasons += [dict(r.headers)["dlq_reason"].decode() for r in records]
    finally:
        await consumer.stop()
    assert any("not JSON" in r for r in reasons), reasons
    assert any("schema_version" in r or "version" in r for r in reasons), reasons


async def test_an_unreachable_model_ends_the_turn_with_a_visible_error(
    worker_settings: WorkerSettings,
    settings: CommonSettings,
    send: Send,
    pg_pool: asyncpg.Pool,
    unique: Callable[[str], str],
) -> None:
    tenant, name = unique("tenant-down"), unique("dead").lower()
    store = PostgresModelProfileStore(pg_pool)
    dead = ModelProfile(
        name=name, role="dialogue", base_url="http://127.0.0.1:9/v1", model="nothing-listens"
    )
    await store.upsert_profiles([dead])
    await store.set_override(ProfileOverride(tenant_id=tenant, role="dialogue", profile=name))
    async with running_worker(worker_settings):
        _, correlation = await send("Hello?", tenant)
        watch = await watch_turn(settings, worker_settings.topics.outbound, correlation)

    final = watch.final()
    assert final["status"] == "error", final
    assert final["reason"].startswith("a service this turn needs is unavailable")
    assert "127.0.0.1" not in final["reason"]  # no internal addresses for the user
    assert watch.attempts() == {1, 2, 3}  # retried as new attempts, then given up visibly
    types = [t for t, _ in await stored(pg_pool, correlation)]
    assert types == [MESSAGE_RECEIVED, TURN_COMPLETED]
    turn = (await stored(pg_pool, correlation))[-1][1]["payload"]
    assert turn["status"] == "error" and turn["error"] == final["reason"]
