"""`soma replay SESSION`: a session's events from PostgreSQL or Kafka, as a transcript or JSON."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer

from somaagent.adapters.kafka.session_reader import KafkaRange, read_session_events
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.adapters.postgres.pool import open_pool
from somaagent.application.replay import Origin, ReplayFilter, json_line, transcript_line
from somaagent.cli.common import console, load_settings, reports_errors
from somaagent.cli.terminal_text import visible
from somaagent.domain.constants import (
    TOPIC_CONVERSATION_INBOUND,
    TOPIC_CONVERSATION_OUTBOUND,
    TOPIC_TOOL_REQUESTS,
    TOPIC_TOOL_RESULTS,
)
from somaagent.domain.errors import NotFoundError, ValidationError
from somaagent.domain.events import Envelope
from somaagent.settings import CommonSettings

FOLLOW_POLL_S = 1.0
DEFAULT_TOPICS = [
    TOPIC_CONVERSATION_INBOUND,
    TOPIC_CONVERSATION_OUTBOUND,
    TOPIC_TOOL_REQUESTS,
    TOPIC_TOOL_RESULTS,
]


class Source(StrEnum):
    postgres = "postgres"
    kafka = "kafka"


class Format(StrEnum):
    transcript = "transcript"
    jsonl = "jsonl"


def emit(event: Envelope, origin: Origin, fmt: Format, keep: ReplayFilter) -> None:
    if not keep.keeps(event):
        return
    # a transcript prints what tools wrote: control characters as visible escapes (JSON
    # lines are escaped by their encoding)
    line = visible(transcript_line(event)) if fmt is Format.transcript else json_line(event, origin)
    console.print(line, markup=False, highlight=False, soft_wrap=True)


async def from_postgres(
    settings: CommonSettings, session_id: str, fmt: Format, keep: ReplayFilter, follow: bool
) -> None:
    pool = await open_pool(settings.postgres.model_copy(update={"pool_min": 1, "pool_max": 2}))
    try:
        store = PostgresEventStore(pool)
        events = await store.read_session(session_id)
        if not events and not follow:
            raise NotFoundError(f"session {session_id} has no events in PostgreSQL")
        last = 0
        while True:
            for stored in events:
                emit(stored.envelope, Origin("postgres", {"seq": stored.seq}), fmt, keep)
                last = stored.seq
            if not follow:
                return
            await asyncio.sleep(FOLLOW_POLL_S)
            events = await store.read_session(session_id, from_seq=last + 1)
    finally:
        await pool.close()


async def from_kafka(
    settings: CommonSettings,
    session_id: str,
    *,
    topics: list[str],
    rng: KafkaRange,
    fmt: Format,
    keep: ReplayFilter,
) -> None:
    seen = 0
    async for item in read_session_events(settings.kafka, topics, session_id, rng):
        seen += 1
        where = {"topic": item.topic, "partition": item.partition, "offset": item.offset}
        emit(item.envelope, Origin("kafka", where), fmt, keep)
    if not seen and not rng.follow:
        raise NotFoundError(f"session {session_id} has no events on {', '.join(topics)}")


def epoch_ms(value: datetime | None, name: str) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationError(name, "give a time zone, e.g. 2026-11-24T06:00:00+00:00")
    return int(value.timestamp() * 1000)


@reports_errors
def replay(
    session_id: Annotated[str, typer.Argument(help="The session to replay.")],
    *,
    source: Annotated[Source, typer.Option(help="Event store or Kafka.")] = Source.postgres,
    fmt: Annotated[Format, typer.Option("--format", help="Output.")] = Format.transcript,
    types: Annotated[list[str] | None, typer.Option("--type", help="Only these types.")] = None,
    correlation: Annotated[str | None, typer.Option(help="Only this turn.")] = None,
    deltas: Annotated[bool, typer.Option(help="Show every streamed delta.")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep following.")] = False,
    topic: Annotated[list[str] | None, typer.Option(help="Kafka topics (default: all).")] = None,
    from_offset: Annotated[int | None, typer.Option(help="Kafka: first offset.")] = None,
    to_offset: Annotated[int | None, typer.Option(help="Kafka: last offset.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Kafka: from this time.")] = None,
    until: Annotated[datetime | None, typer.Option(help="Kafka: up to this time.")] = None,
) -> None:
    """Replay a session: `soma replay SESSION [--source kafka] [--format jsonl] [-f]`."""
    settings = load_settings()
    keep = ReplayFilter(frozenset(types or ()), correlation, deltas)
    if source is Source.postgres:
        work = from_postgres(settings, session_id, fmt, keep, follow)
    else:
        rng = KafkaRange(
            from_offset, to_offset, epoch_ms(since, "since"), epoch_ms(until, "until"), follow
        )
        work = from_kafka(
            settings, session_id, topics=topic or DEFAULT_TOPICS, rng=rng, fmt=fmt, keep=keep
        )
    try:
        asyncio.run(work)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
