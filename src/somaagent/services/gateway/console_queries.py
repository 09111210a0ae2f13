"""The operator console's read queries (tenant-scoped): sessions with their status and turn
count, turn states, per-session profile usage, requeue items and their audit chain links.

Everything else the console reads goes through the existing stores (event store, requeue
store, audit log, model profiles); these are the aggregate reads none of them offers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from somaagent.adapters.postgres.driver_errors import translated
from somaagent.adapters.postgres.sessions import decode_cursor
from somaagent.domain.constants import (
    TABLE_AUDIT,
    TABLE_EVENTS,
    TABLE_REQUEUE,
    TABLE_SESSIONS,
    TABLE_TURN_STATE,
)
from somaagent.domain.event_types import MESSAGE_RECEIVED, TOOL_CALL_REQUESTED, TURN_COMPLETED
from somaagent.domain.policy import RequeueItem

TIMEOUT_S: Final = 5.0
#: Requeue statuses by dashboard view: released and denied items were resolved by someone;
#: failed ones ran out of re-evaluations (expired).
VIEWS: Final[dict[str, tuple[str, ...]]] = {
    "pending": ("pending",),
    "resolved": ("released", "denied"),
    "expired": ("failed",),
}

_LATEST_TURN = (
    f"LEFT JOIN LATERAL (SELECT t.status FROM {TABLE_TURN_STATE} t"
    " WHERE t.session_id = s.session_id ORDER BY t.created_at DESC LIMIT 1) lt ON true"
)
_SESSIONS = f"""
SELECT s.session_id, s.tenant_id, s.persona_id, s.title, s.owner, s.shared, s.created_at,
       s.updated_at, s.last_seq,
       COALESCE(lt.status, 'idle') AS status,
       (SELECT count(*) FROM {TABLE_EVENTS} e WHERE e.session_id = s.session_id
          AND e.type = '{TURN_COMPLETED}') AS turn_count
FROM {TABLE_SESSIONS} s {_LATEST_TURN}
WHERE s.tenant_id = $1
  AND ($2::text IS NULL OR s.persona_id = $2)
  AND ($3::timestamptz IS NULL OR s.updated_at >= $3)
  AND ($4::timestamptz IS NULL OR s.updated_at <= $4)
  AND ($5::text IS NULL OR COALESCE(lt.status, 'idle') = $5)
  AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM {TABLE_EVENTS} e
        WHERE e.session_id = s.session_id AND e.type = '{TOOL_CALL_REQUESTED}'
          AND substring(e.body::text from $12) = $6))
  AND ($7::text IS NULL OR s.session_id = $7 OR s.title ILIKE $8 OR EXISTS (
        SELECT 1 FROM {TABLE_EVENTS} e WHERE e.session_id = s.session_id
          AND e.type = '{MESSAGE_RECEIVED}' AND e.body->'payload'->>'text' ILIKE $8))
  AND ($9::timestamptz IS NULL OR (s.updated_at, s.session_id) < ($9, $10))
  AND ($13::text IS NULL OR s.owner = $13)
ORDER BY s.updated_at DESC, s.session_id DESC
LIMIT $11
"""
_TURNS = f"""
SELECT correlation_id, status, attempt, created_at, updated_at FROM {TABLE_TURN_STATE}
WHERE session_id = $1 AND (correlation_id = ANY($2::text[])
      OR status IN ('running', 'awaiting_tool', 'awaiting_policy'))
ORDER BY created_at
"""
_TURN_START = f"SELECT min(seq) FROM {TABLE_EVENTS} WHERE session_id = $1 AND correlation_id = $2"
_PROFILE_USE = f"""
SELECT COALESCE(substring(body::text from $2), '') AS profile, count(*) AS turns,
       max(seq) AS last_seq
FROM {TABLE_EVENTS} WHERE session_id = $1 AND type = '{TURN_COMPLETED}'
GROUP BY 1 ORDER BY 3 DESC
"""
#: A field of a stored envelope read from its JSON text, not with `->`: PostgreSQL cannot
#: turn a json value holding \u0000 (tool output may) into text, so `->`/`->>` on such an
#: event fails the whole query. The stored text is compact (orjson) and a string's inner
#: quotes are escaped, so the first `"field":"` is the field itself: `tool` comes second in
#: a ToolCall payload, after `request_id`, and no envelope field before it is called `tool`;
#: `model_profile` appears once in a turn.completed.
TOOL_FIELD: Final = r'"tool":"([a-z0-9_]+)"'
PROFILE_FIELD: Final = r'"model_profile":"([^"\\]*)"'
_REQUEUE_COLUMNS = (
    "id, tenant_id, persona_id, session_id, request, verdict, target_topic, envelope, status,"
    " attempts, next_attempt_at, created_at, updated_at, resolved_by, resolution_reason"
)
_REQUEUE_SESSION = (
    f"SELECT {_REQUEUE_COLUMNS} FROM {TABLE_REQUEUE} WHERE tenant_id = $1 AND session_id = $2"
    " ORDER BY created_at"
)
_REQUEUE_VIEW = (
    f"SELECT {_REQUEUE_COLUMNS} FROM {TABLE_REQUEUE} WHERE tenant_id = $1"
    " AND status = ANY($2::text[]) ORDER BY created_at DESC LIMIT $3"
)
_REQUEUE_COUNTS = (
    f"SELECT status, count(*) AS n FROM {TABLE_REQUEUE} WHERE tenant_id = $1 GROUP BY 1"
)
_AUDIT_PREV = f"SELECT hash FROM {TABLE_AUDIT} WHERE seq < $1 ORDER BY seq DESC LIMIT 1"


@dataclass(frozen=True)
class SessionFilter:
    persona: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    tool: str | None = None
    search: str | None = None


@dataclass(frozen=True)
class TurnRow:
    correlation_id: str
    status: str
    attempt: int
    created_at: datetime
    updated_at: datetime


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_sessions(
    pool: asyncpg.Pool,
    tenant_id: str,
    f: SessionFilter,
    limit: int,
    cursor: str | None,
    *,
    owner: str | None,
) -> list[asyncpg.Record]:
    """One page of the tenant's sessions (only `owner`'s when given), most recently active
    first, `limit + 1` rows at most (a row beyond `limit` means there is a next page)."""
    at, after = decode_cursor(cursor) if cursor else (None, None)
    pattern = _like(f.search) if f.search else None
    args = (f.persona, f.since, f.until, f.status, f.tool, f.search, pattern, at, after)
    async with translated("console sessions"):
        rows: list[asyncpg.Record] = await pool.fetch(
            _SESSIONS, tenant_id, *args, limit + 1, TOOL_FIELD, owner, timeout=TIMEOUT_S
        )
    return rows


async def turn_rows(pool: asyncpg.Pool, session_id: str, turns: list[str]) -> list[TurnRow]:
    """The turn states of these turns, and of every turn of the session still open."""
    async with translated("console turns"):
        rows = await pool.fetch(_TURNS, session_id, turns, timeout=TIMEOUT_S)
    return [TurnRow(**dict(r)) for r in rows]


async def turn_start(pool: asyncpg.Pool, session_id: str, correlation_id: str) -> int | None:
    """The seq of the first stored event of a turn (None when it has none)."""
    async with translated("console turn start"):
        value = await pool.fetchval(_TURN_START, session_id, correlation_id, timeout=TIMEOUT_S)
    return None if value is None else int(value)


async def profile_use(pool: asyncpg.Pool, session_id: str) -> list[dict[str, Any]]:
    """Completed turns per answering profile, the most recently used first."""
    async with translated("console profile use"):
        rows = await pool.fetch(_PROFILE_USE, session_id, PROFILE_FIELD, timeout=TIMEOUT_S)
    return [{"profile": r["profile"], "turns": r["turns"], "last_seq": r["last_seq"]} for r in rows]


def _requeue(row: asyncpg.Record) -> RequeueItem:
    data: dict[str, Any] = dict(row)
    for key in ("request", "verdict", "envelope"):
        data[key] = json.loads(data[key])
    return RequeueItem.model_validate(data)


async def session_requeue(pool: asyncpg.Pool, tenant_id: str, session_id: str) -> list[RequeueItem]:
    async with translated("console session requeue"):
        rows = await pool.fetch(_REQUEUE_SESSION, tenant_id, session_id, timeout=TIMEOUT_S)
    return [_requeue(r) for r in rows]


async def requeue_view(
    pool: asyncpg.Pool, tenant_id: str, view: str, limit: int
) -> list[RequeueItem]:
    async with translated("console requeue view"):
        rows = await pool.fetch(
            _REQUEUE_VIEW, tenant_id, list(VIEWS[view]), limit, timeout=TIMEOUT_S
        )
    return [_requeue(r) for r in rows]


async def requeue_counts(pool: asyncpg.Pool, tenant_id: str) -> dict[str, int]:
    """Items per dashboard view."""
    async with translated("console requeue counts"):
        rows = await pool.fetch(_REQUEUE_COUNTS, tenant_id, timeout=TIMEOUT_S)
    by_status = {r["status"]: int(r["n"]) for r in rows}
    return {view: sum(by_status.get(s, 0) for s in statuses) for view, statuses in VIEWS.items()}


async def previous_hash(pool: asyncpg.Pool, seq: int) -> str | None:
    """The hash of the audit row before `seq` (None for the first row of the chain)."""
    async with translated("console audit link"):
        value = await pool.fetchval(_AUDIT_PREV, seq, timeout=TIMEOUT_S)
    return None if value is None else str(value)
