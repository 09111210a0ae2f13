"""The append-only, hash-chained audit log in PostgreSQL (table audit_log).

Each row stores `prev_hash` and `hash = sha256(prev_hash + canonical JSON of the row)`
(`somaagent.domain.policy.audit_hash`). Appends are serialised per schema with a
transaction-scoped advisory lock, so the chain never forks; `verify_chain` walks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from somaagent.domain.constants import TABLE_AUDIT
from somaagent.domain.errors import BackendError, BackendUnavailableError
from somaagent.domain.policy import GENESIS_HASH, AuditEvent, audit_hash

Conn = asyncpg.Connection | PoolConnectionProxy

_COLUMNS = (
    "event_id, occurred_at, actor, tenant_id, action, subject_id, reason, "
    "verdict_before, verdict_after"
)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    event: AuditEvent
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class BadRow:
    seq: int
    event_id: str
    problem: str


@dataclass(frozen=True)
class ChainReport:
    rows: int
    head_hash: str
    first_bad: BadRow | None


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


def _event(row: asyncpg.Record) -> AuditEvent:
    def load(v: str | None) -> dict[str, Any] | None:
        return None if v is None else dict(json.loads(v))

    return AuditEvent(
        event_id=row["event_id"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        tenant_id=row["tenant_id"],
        action=row["action"],
        subject_id=row["subject_id"],
        reason=row["reason"],
        verdict_before=load(row["verdict_before"]),
        verdict_after=load(row["verdict_after"]),
    )


async def append_audit(conn: Conn, event: AuditEvent) -> AuditRecord:
    """Append `event` to the chain inside the caller's transaction."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))", TABLE_AUDIT
    )
    prev = await conn.fetchval(f"SELECT hash FROM {TABLE_AUDIT} ORDER BY seq DESC LIMIT 1")
    prev_hash = str(prev) if prev is not None else GENESIS_HASH
    digest = audit_hash(prev_hash, event)
    seq = await conn.fetchval(
        f"INSERT INTO {TABLE_AUDIT} ({_COLUMNS}, prev_hash, hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11) RETURNING seq",
        event.event_id,
        event.occurred_at,
        event.actor,
        event.tenant_id,
        event.action,
        event.subject_id,
        event.reason,
        _json(event.verdict_before),
        _json(event.verdict_after),
        prev_hash,
        digest,
    )
    return AuditRecord(int(seq), event, prev_hash, digest)


class PostgresAuditLog:
    """Audit log on a pool whose search_path points at the right schema."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def append(self, event: AuditEvent) -> AuditRecord:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                return await append_audit(conn, event)
        except (OSError, asyncpg.PostgresError) as exc:
            raise BackendError(f"postgres: audit append failed: {exc}") from exc

    async def for_subject(self, subject_id: str) -> list[AuditRecord]:
        rows = await self.pool.fetch(
            f"SELECT seq, {_COLUMNS}, prev_hash, hash FROM {TABLE_AUDIT} "
            "WHERE subject_id = $1 ORDER BY seq",
            subject_id,
        )
        return [AuditRecord(r["seq"], _event(r), r["prev_hash"], r["hash"]) for r in rows]

    async def verify(self) -> ChainReport:
        async with self.pool.acquire() as conn:
            return await verify_chain(conn)


async def verify_chain(conn: Conn) -> ChainReport:
    """Walk the chain in seq order; report the first row whose links or hash do not hold."""
    expected_prev = GENESIS_HASH
    rows = 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        query = f"SELECT seq, {_COLUMNS}, prev_hash, hash FROM {TABLE_AUDIT} ORDER BY seq"
        async for row in conn.cursor(query, prefetch=500):
            rows += 1
            problem = _row_problem(row, expected_prev)
            if problem is not None:
                return ChainReport(
                    rows, expected_prev, BadRow(row["seq"], row["event_id"], problem)
                )
            expected_prev = row["hash"]
    return ChainReport(rows, expected_prev, None)


def _row_problem(row: asyncpg.Record, expected_prev: str) -> str | None:
    if row["prev_hash"] != expected_prev:
        return f"prev_hash {row['prev_hash'][:12]}... does not link to {expected_prev[:12]}..."
    try:
        event = _event(row)
    except ValueError as exc:
        return f"row does not parse: {exc}"
    recomputed = audit_hash(row["prev_hash"], event)
    if recomputed != row["hash"]:
        return f"hash {row['hash'][:12]}... does not match its content ({recomputed[:12]}...)"
    return None


async def verify_chain_at(dsn: str, schema: str) -> ChainReport:
    """Open one connection with `schema` on the search_path and verify its chain."""
    try:
        conn = await asyncpg.connect(
            dsn, timeout=10, server_settings={"search_path": f'"{schema}",public'}
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackendUnavailableError(f"postgres unreachable: {exc}") from exc
    try:
        return await verify_chain(conn)
    finally:
        await conn.close()
