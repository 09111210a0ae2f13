"""The PostgreSQL event store: append-only, per-session sequence, global position.

    store = PostgresEventStore(pool)
    result = await store.append([e1, e2], expected_version=3)   # one transaction
    events = await store.read_session(session_id, from_seq=1)   # upcast on read
    page = await store.read_all(after_position=0, limit=500)    # replay, projections

Appends are idempotent on event_id and optimistic on the session's version: when
`expected_version` is given and the session has moved on, ConflictError (retriable).
Pass `conn=` to append inside a transaction the caller already holds (a savepoint is
used), so a turn's events and the caller's own rows commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg

from somaagent.adapters.postgres.driver_errors import Conn, connection, translated
from somaagent.domain.constants import TABLE_EVENTS, TABLE_SESSIONS
from somaagent.domain.errors import ConflictError, ValidationError
from somaagent.domain.event_store import AppendResult, StoredEvent
from somaagent.domain.event_types import SESSION_CREATED
from somaagent.domain.events import Envelope
from somaagent.domain.serialization import envelope_from_json, envelope_to_json, validate_envelope

MAX_BATCH: Final = 10_000

_EXISTING = (
    f"SELECT event_id, session_id, seq, position, body FROM {TABLE_EVENTS}"
    " WHERE event_id = ANY($1::text[])"
)
_VERSION = f"SELECT last_seq FROM {TABLE_SESSIONS} WHERE session_id = $1"
_BUMP = (
    f"INSERT INTO {TABLE_SESSIONS} AS s (session_id, tenant_id, persona_id, title, last_seq)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO UPDATE"
    " SET last_seq = s.last_seq + EXCLUDED.last_seq, updated_at = now(),"
    " title = COALESCE(s.title, EXCLUDED.title)"
    " RETURNING s.tenant_id, s.last_seq"
)
_INSERT = (
    f"INSERT INTO {TABLE_EVENTS} (event_id, session_id, seq, type, schema_version, tenant_id,"
    " correlation_id, occurred_at, body)"
    " SELECT e.id, $1, e.seq, e.type, e.v, $2, e.corr, e.at, e.body::json"
    " FROM unnest($3::text[], $4::bigint[], $5::text[], $6::int[], $7::text[],"
    " $8::timestamptz[], $9::text[]) AS e(id, seq, type, v, corr, at, body)"
    " ORDER BY e.seq RETURNING position, seq"
)
_READ_SESSION = (
    f"SELECT position, seq, body FROM {TABLE_EVENTS}"
    " WHERE session_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4"
)
_READ_ALL = (
    f"SELECT position, seq, body FROM {TABLE_EVENTS} WHERE position > $1 ORDER BY position LIMIT $2"
)


def check_batch(events: Sequence[Envelope]) -> list[Envelope]:
    """Validated current-version envelopes of one session and tenant, or ValidationError."""
    if not events:
        raise ValidationError("events", "an append needs at least one event")
    if len(events) > MAX_BATCH:
        raise ValidationError("events", f"at most {MAX_BATCH} events per append")
    head = events[0]
    for i, event in enumerate(events):
        if event.session_id != head.session_id:
            raise ValidationError(f"events.{i}.session_id", "one append writes one session")
        if event.tenant_id != head.tenant_id:
            raise ValidationError(f"events.{i}.tenant_id", "one append writes one tenant")
    ids = [e.event_id for e in events]
    if len(set(ids)) != len(ids):
        raise ValidationError("events", "the same event_id appears twice in one append")
    return [validate_envelope(e) for e in events]


def _stored(row: asyncpg.Record) -> StoredEvent:
    return StoredEvent(row["position"], row["seq"], envelope_from_json(row["body"]))


class PostgresEventStore:
    """Append-only events in PostgreSQL; see the module docstring for the contract."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def append(
        self,
        events: Sequence[Envelope],
        *,
        expected_version: int | None = None,
        conn: Conn | None = None,
    ) -> AppendResult:
        """Append events of one session in one transaction.

        Duplicates (an event_id already stored) are no-ops reported with their
        existing position. `expected_version` is the session's last seq as the caller
        saw it (0 for a new session); a mismatch raises ConflictError.
        """
        batch = check_batch(events)
        if expected_version is not None and expected_version < 0:
            raise ValidationError("expected_version", "must be >= 0")
        async with connection(self._pool, conn, self._timeout, "append") as c:
            for attempt in range(2):
                try:
                    async with translated("append"), c.transaction():
                        return await self._append_tx(c, batch, expected_version)
                except asyncpg.UniqueViolationError as exc:
                    # A concurrent writer stored the same event_id or seq first.
                    if attempt == 1 or "event_id" not in str(exc.constraint_name):
                        raise ConflictError(
                            f"session {batch[0].session_id} was appended concurrently"
                        ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _append_tx(
        self, c: Conn, batch: list[Envelope], expected: int | None
    ) -> AppendResult:
        head = batch[0]
        existing = {
            r["event_id"]: r
            for r in await c.fetch(_EXISTING, [e.event_id for e in batch], timeout=self._timeout)
        }
        for r in existing.values():
            if r["session_id"] != head.session_id:
                raise ValidationError("event_id", f"{r['event_id']} belongs to another session")
        new = [e for e in batch if e.event_id not in existing]
        if not new:
            version = await c.fetchval(_VERSION, head.session_id, timeout=self._timeout)
            return AppendResult(
                tuple(_stored(existing[e.event_id]) for e in batch), version, len(batch)
            )
        bumped = await c.fetchrow(
            _BUMP,
            head.session_id,
            head.tenant_id,
            head.persona_id,
            _title(new),
            len(new),
            timeout=self._timeout,
        )
        assert bumped is not None  # INSERT .. ON CONFLICT DO UPDATE always returns a row
        tenant, version = bumped["tenant_id"], bumped["last_seq"]
        if tenant != head.tenant_id:
            raise ValidationError(
                "tenant_id", f"session {head.session_id} belongs to another tenant"
            )
        first = version - len(new) + 1
        if expected is not None and expected != first - 1:
            raise ConflictError(
                f"session {head.session_id} is at version {first - 1}, expected {expected}"
            )
        seqs = list(range(first, version + 1))
        rows = await c.fetch(
            _INSERT,
            head.session_id,
            head.tenant_id,
            [e.event_id for e in new],
            seqs,
            [e.type for e in new],
            [e.schema_version for e in new],
            [e.correlation_id for e in new],
            [e.occurred_at for e in new],
            [envelope_to_json(e).decode() for e in new],
            timeout=self._timeout,
        )
        position = {r["seq"]: r["position"] for r in rows}
        fresh = {e.event_id: StoredEvent(position[s], s, e) for e, s in zip(new, seqs, strict=True)}
        stored = tuple(fresh.get(e.event_id) or _stored(existing[e.event_id]) for e in batch)
        return AppendResult(stored, version, len(batch) - len(new))

    async def version(self, session_id: str, *, conn: Conn | None = None) -> int:
        """The session's last seq (0 when it has no events)."""
        async with (
            connection(self._pool, conn, self._timeout, "version") as c,
            translated("version"),
        ):
            value = await c.fetchval(_VERSION, session_id, timeout=self._timeout)
        return int(value or 0)

    async def read_session(
        self,
        session_id: str,
        *,
        from_seq: int = 1,
        to_seq: int | None = None,
        limit: int = 100_000,
        conn: Conn | None = None,
    ) -> list[StoredEvent]:
        """The session's events with from_seq <= seq <= to_seq, in order, upcast."""
        upper = to_seq if to_seq is not None else 2**62
        async with (
            connection(self._pool, conn, self._timeout, "read_session") as c,
            translated("read_session"),
        ):
            rows = await c.fetch(
                _READ_SESSION, session_id, from_seq, upper, limit, timeout=self._timeout
            )
        return [_stored(r) for r in rows]

    async def read_all(
        self, *, after_position: int = 0, limit: int = 1000, conn: Conn | None = None
    ) -> list[StoredEvent]:
        """Every session's events after a global position, in position order (a page)."""
        if not 1 <= limit <= MAX_BATCH:
            raise ValidationError("limit", f"must be between 1 and {MAX_BATCH}")
        async with (
            connection(self._pool, conn, self._timeout, "read_all") as c,
            translated("read_all"),
        ):
            rows = await c.fetch(_READ_ALL, after_position, limit, timeout=self._timeout)
        return [_stored(r) for r in rows]


def _title(events: list[Envelope]) -> str | None:
    for e in events:
        if e.type == SESSION_CREATED:
            title = e.payload.get("title")
            return str(title) if title else None
    return None
