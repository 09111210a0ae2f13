"""`soma replay` as an operator runs it: from PostgreSQL and from Kafka, transcript and
JSON lines, filters, and clear errors for an unknown session or an unreachable server."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

import asyncpg
import orjson

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    make_event,
)
from somaagent.domain.stream import STREAM_UPDATE, StreamUpdate
from somaagent.domain.turns import ConversationTurn, Usage
from somaagent.settings import CommonSettings


async def soma(settings: CommonSettings, *args: str, **env: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "somaagent.cli.main",
        *args,
        env={**os.environ, "SOMA_POSTGRES__DB_SCHEMA": settings.postgres.db_schema, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def a_turn(session: str, corr: str) -> list:
    common = {"session_id": session, "tenant_id": "t-replay", "correlation_id": corr}
    turn = ConversationTurn(
        correlation_id=corr,
        session_id=session,
        tenant_id="t-replay",
        user_message="What is 2+2?",
        assistant_message="It is 4.",
        model_profile="dialogue-qwen-0.5b",
        usage=Usage(prompt_tokens=20, completion_tokens=5),
        latency_s=0.8,
    )
    return [
        make_event(MESSAGE_RECEIVED, MessageReceived(text="What is 2+2?"), **common),
        make_event(TURN_COMPLETED, turn, **common),
    ]


async def test_replay_from_postgres_as_transcript_and_json(
    settings: CommonSettings, pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    session = unique("replay")
    await PostgresEventStore(pg_pool).append(a_turn(session, "c-one"))
    await PostgresEventStore(pg_pool).append(a_turn(session, "c-two"))

    code, out, _ = await soma(settings, "replay", session)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("[c-one] user: What is 2+2?")
    assert "assistant [dialogue-qwen-0.5b, 20+5 tokens, 0.80s, completed]: It is 4." in lines[1]

    code, out, _ = await soma(
        settings,
        "replay",
        session,
        "--format",
        "jsonl",
        "--correlation",
        "c-two",
        "--type",
        TURN_COMPLETED,
    )
    assert code == 0
    (only,) = [orjson.loads(line) for line in out.strip().splitlines()]
    assert only["source"] == "postgres" and only["seq"] == 4
    assert only["event"]["payload"]["assistant_message"] == "It is 4."


async def test_replay_from_kafka_by_offsets(
    settings: CommonSettings, kafka_topics: Callable[..., Awaitable[list[str]]]
) -> None:
    (topic,) = await kafka_topics("replay", partitions=3)
    session = "replay-kafka-session"
    async with KafkaEventBus(settings.kafka) as bus:
        for seq, delta in enumerate(["Hel", "lo", "!"]):
            update = StreamUpdate(status="streaming", correlation_id="c-k", seq=seq, delta=delta)
            event = make_event(
                STREAM_UPDATE, update, session_id=session, tenant_id="t", correlation_id="c-k"
            )
            await bus.publish(topic, event)
        await bus.publish(
            topic,
            make_event(
                STREAM_UPDATE,
                StreamUpdate(status="completed", correlation_id="c-k", seq=3, text="Hello!"),
                session_id="someone-else",
                tenant_id="t",
                correlation_id="c-x",
            ),
        )

    code, out, _ = await soma(
        settings,
        "replay",
        session,
        "--source",
        "kafka",
        "--topic",
        topic,
        "--deltas",
        "--format",
        "jsonl",
        "--from-offset",
        "1",
    )
    assert code == 0, out
    rows = [orjson.loads(line) for line in out.strip().splitlines()]
    assert [r["event"]["payload"]["delta"] for r in rows] == ["lo", "!"]
    assert {r["topic"] for r in rows} == {topic} and [r["offset"] for r in rows] == [1, 2]


async def test_unknown_session_and_unreachable_server_are_clear_errors(
    settings: CommonSettings, migrated: str
) -> None:
    code, _, err = await soma(settings, "replay", "no-such-session")
    assert code == 1 and "session no-such-session has no events in PostgreSQL" in err
    code, _, err = await soma(
        settings,
        "replay",
        "s",
        "--source",
        "kafka",
        SOMA_KAFKA__BOOTSTRAP="127.0.0.1:1",
        SOMA_KAFKA__REQUEST_TIMEOUT_S="3",
    )
    assert code == 1 and "kafka unreachable at 127.0.0.1:1" in err
    code, _, err = await soma(settings, "replay", "s", SOMA_POSTGRES__PORT="1")
    assert code == 1 and "postgres unreachable" in err
