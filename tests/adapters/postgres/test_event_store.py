"""The event store on the real PostgreSQL: ordering, idempotency, concurrency, atomicity."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.domain.errors import ConflictError, ValidationError
from somaagent.domain.event_types import MESSAGE_RECEIVED, SESSION_CREATED
from somaagent.domain.events import Envelope
from somaagent.domain.serialization import envelope_to_json


def msg(session: str, text: str, tenant: str = "t-1") -> Envelope:
    return Envelope(
        type=MESSAGE_RECEIVED, session_id=session, tenant_id=tenant, payload={"text": text}
    )


@pytest.fixture
def store(pg_pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(pg_pool)


async def test_batch_gets_consecutive_seqs_and_reads_back_in_order(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    created = Envelope(
        type=SESSION_CREATED, session_id=sid, tenant_id="t-1", payload={"title": "Ünïcode"}
    )
    result = await store.append([created, msg(sid, "a"), msg(sid, "b")], expected_version=0)
    assert [s.seq for s in result.stored] == [1, 2, 3]
    assert result.version == 3 and result.duplicates == 0
    positions = [s.position for s in result.stored]
    assert positions == sorted(positions)
    more = await store.append([msg(sid, "c")], expected_version=3)
    assert more.stored[0].seq == 4
    events = await store.read_session(sid)
    assert [e.envelope.payload.get("text") for e in events] == [None, "a", "b", "c"]
    assert events[0].envelope == created
    assert [e.seq for e in await store.read_session(sid, from_seq=2, to_seq=3)] == [2, 3]
    row = await pg_pool.fetchrow("SELECT title, last_seq FROM sessions WHERE session_id = $1", sid)
    assert (row["title"], row["last_seq"]) == ("Ünïcode", 4)


async def test_duplicate_append_is_a_no_op_returning_the_existing_position(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    event = msg(sid, "once")
    first = await store.append([event])
    again = await store.append([event], expected_version=0)  # stale version: still a no-op
    assert again.duplicates == 1
    assert again.stored == first.stored
    mixed = await store.append([event, msg(sid, "twice")])
    assert mixed.duplicates == 1
    assert [s.seq for s in mixed.stored] == [1, 2]
    count = await pg_pool.fetchval("SELECT count(*) FROM events WHERE session_id = $1", sid)
    assert count == 2


async def test_stale_expected_version_raises_a_retriable_conflict(
    store: PostgresEventStore, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    await store.append([msg(sid, "a")], expected_version=0)
    with pytest.raises(ConflictError) as err:
        await store.append([msg(sid, "b")], expected_version=0)
    assert err.value.retriable
    assert await store.version(sid) == 1


async def test_concurrent_appends_from_two_connections_exactly_one_wins(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    await store.append([msg(sid, "start")])
    async with pg_pool.acquire() as c1, pg_pool.acquire() as c2:
        # Both transactions are open before either appends, so they truly overlap.
        tx1, tx2 = c1.transaction(), c2.transaction()
        await tx1.start()
        await tx2.start()
        first = await store.append([msg(sid, "one")], expected_version=1, conn=c1)
        second = asyncio.create_task(store.append([msg(sid, "two")], expected_version=1, conn=c2))
        await asyncio.sleep(0.2)
        assert not second.done()  # blocked on the session row held by c1
        await tx1.commit()
        with pytest.raises(ConflictError):
            await second
        await tx2.rollback()
    assert first.version == 2
    texts = [e.envelope.payload["text"] for e in await store.read_session(sid)]
    assert texts == ["start", "one"]


async def test_racing_appends_without_transactions_one_conflicts(
    store: PostgresEventStore, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    outcomes = await asyncio.gather(
        *(store.append([msg(sid, str(i))], expected_version=0) for i in range(4)),
        return_exceptions=True,
    )
    wins = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(wins) == 1
    assert all(isinstance(o, ConflictError) for o in outcomes if o not in wins)


async def test_append_inside_the_callers_transaction_rolls_back_with_it(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    async with pg_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await store.append([msg(sid, "doomed")], conn=conn)
        assert await store.version(sid, conn=conn) == 1
        await tx.rollback()
    assert await store.version(sid) == 0
    assert await store.read_session(sid) == []


async def test_read_all_pages_by_global_position(
    store: PostgresEventStore, unique: Callable[[str], str]
) -> None:
    a, b = unique("s"), unique("s")
    ra = await store.append([msg(a, "a1"), msg(a, "a2")])
    rb = await store.append([msg(b, "b1")])
    start = ra.stored[0].position - 1
    page1 = await store.read_all(after_position=start, limit=2)
    page2 = await store.read_all(after_position=page1[-1].position, limit=10)
    ours = [e for e in page1 + page2 if e.envelope.session_id in (a, b)]
    assert [e.envelope.payload["text"] for e in ours] == ["a1", "a2", "b1"]
    assert ours[-1].position == rb.stored[0].position


async def test_bad_batches_are_refused_before_anything_is_written(
    store: PostgresEventStore, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    with pytest.raises(ValidationError) as err:
        await store.append([msg(sid, "a"), msg(unique("s"), "b")])
    assert err.value.field == "events.1.session_id"
    with pytest.raises(ValidationError) as err:
        await store.append([Envelope(type=MESSAGE_RECEIVED, session_id=sid, tenant_id="t-1")])
    assert err.value.field == "payload.text"
    await store.append([msg(sid, "mine")])
    with pytest.raises(ValidationError) as err:
        await store.append([msg(sid, "theirs", tenant="t-other")])
    assert err.value.field == "tenant_id"
    assert await store.version(sid) == 1


async def test_events_table_refuses_updates_and_deletes(
    store: PostgresEventStore, pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    await store.append([msg(sid, "kept")])
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await pg_pool.execute("DELETE FROM events WHERE session_id = $1", sid)
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await pg_pool.execute("UPDATE events SET type = 'x' WHERE session_id = $1", sid)


async def test_stored_envelope_reads_back_exactly(
    store: PostgresEventStore, unique: Callable[[str], str]
) -> None:
    sid = unique("s")
    text = 'NUL\u0000 tab\t quote" 日本語 👋 ' + "é" * 150_000
    event = Envelope(
        type=MESSAGE_RECEIVED,
        session_id=sid,
        tenant_id="t-1",
        correlation_id=unique("c"),
        occurred_at=datetime(2026, 2, 3, 4, 5, 6, 789012, tzinfo=timezone(timedelta(hours=9))),
        payload={"text": text, "attachments": []},
    )
    await store.append([event])
    (back,) = await store.read_session(sid)
    assert back.envelope == event
    assert back.envelope.occurred_at.utcoffset() == timedelta(hours=9)
    assert envelope_to_json(back.envelope) == envelope_to_json(event)
