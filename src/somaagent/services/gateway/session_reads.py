"""Tenant-scoped reads of the `sessions` table (the event store maintains its rows).

A session of another tenant reads exactly like one that does not exist, so callers answer
404 for both and never reveal a foreign id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from somaagent.adapters.postgres.driver_errors import connection
from somaagent.domain.constants import TABLE_SESSIONS

_COLUMNS = "session_id, tenant_id, persona_id, title, created_at, updated_at, last_seq"
_GET = f"SELECT {_COLUMNS} FROM {TABLE_SESSIONS} WHERE session_id = $1 AND tenant_id = $2"
_LIST = (
    f"SELECT {_COLUMNS} FROM {TABLE_SESSIONS} WHERE tenant_id = $1"
    " AND ($2::timestamptz IS NULL OR (updated_at, session_id) < ($2, $3))"
    " ORDER BY updated_at DESC, session_id DESC LIMIT $4"
)


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    tenant_id: str
    persona_id: str
    title: str | None
    created_at: datetime
    updated_at: datetime
    last_seq: int


def _info(row: asyncpg.Record) -> SessionInfo:
    return SessionInfo(**dict(row))


class SessionReads:
    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def get(self, tenant_id: str, session_id: str) -> SessionInfo | None:
        async with connection(self._pool, None, self._timeout, "get session") as c:
            row = await c.fetchrow(_GET, session_id, tenant_id, timeout=self._timeout)
        return None if row is None else _info(row)

    async def list(
        self, tenant_id: str, *, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[SessionInfo]:
        """The tenant's sessions, most recently updated first, after the `before` cursor."""
        at, sid = before if before is not None else (None, "")
        async with connection(self._pool, None, self._timeout, "list sessions") as c:
            rows = await c.fetch(_LIST, tenant_id, at, sid, limit, timeout=self._timeout)
        return [_info(r) for r in rows]
