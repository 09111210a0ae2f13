"""The sessions table (maintained by the event store): look-ups and per-tenant listing.

A session's `owner` is the subject of the API key that created it (migration 062): `open`
appends the session.created event and records the owner in one transaction, so no session
made through it is ever without one; `set_shared` shares it with the tenant's other users.
`list(..., owner=subject)` pages through what that user sees (own sessions and shared ones);
without `owner`, through the whole tenant's (what an admin sees).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Final

import asyncpg
from pydantic import AwareDatetime, BaseModel, ConfigDict

from somaagent.adapters.postgres.driver_errors import translated
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.domain.constants import TABLE_SESSIONS
from somaagent.domain.errors import NotFoundError, ValidationError
from somaagent.domain.events import Envelope

MAX_PAGE: Final = 200
_COLUMNS = (
    "session_id, tenant_id, persona_id, title, owner, shared, created_at, last_seq, updated_at"
)
_GET = f"SELECT {_COLUMNS} FROM {TABLE_SESSIONS} WHERE session_id = $1 AND tenant_id = $2"
# $3: the user whose own and shared sessions to list, or NULL for every session of the tenant
_VISIBLE = " AND ($3::text IS NULL OR owner = $3 OR shared)"
_FIRST = (
    f"SELECT {_COLUMNS} FROM {TABLE_SESSIONS} WHERE tenant_id = $1{_VISIBLE}"
    " ORDER BY updated_at DESC, session_id DESC LIMIT $2"
)
_AFTER = (
    f"SELECT {_COLUMNS} FROM {TABLE_SESSIONS} WHERE tenant_id = $1{_VISIBLE}"
    " AND (updated_at, session_id) < ($4, $5)"
    " ORDER BY updated_at DESC, session_id DESC LIMIT $2"
)
_SET_SHARED = (
    f"UPDATE {TABLE_SESSIONS} SET shared = $3 WHERE session_id = $1 AND tenant_id = $2"
    f" RETURNING {_COLUMNS}"
)
_SET_OWNER = (
    f"UPDATE {TABLE_SESSIONS} SET owner = $3 WHERE session_id = $1 AND tenant_id = $2"
    f" RETURNING {_COLUMNS}"
)


class SessionRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    tenant_id: str
    persona_id: str
    title: str | None
    #: The subject of the key that created the session; None: admins only (migration 062).
    owner: str | None = None
    #: Shared by its owner (or an admin): the tenant's other users may read it.
    shared: bool = False
    created_at: AwareDatetime
    last_seq: int
    updated_at: AwareDatetime


class SessionPage(BaseModel):
    """One page, most recently active first; pass `next_cursor` back for the next."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sessions: list[SessionRow]
    next_cursor: str | None


def encode_cursor(row: SessionRow) -> str:
    raw = f"{row.updated_at.isoformat()}|{row.session_id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (updated_at, session_id) a cursor points after; ValidationError when garbled."""
    try:
        stamp, session_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        at = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationError("cursor", "not a cursor this API returned") from exc
    if at.tzinfo is None:
        raise ValidationError("cursor", "not a cursor this API returned")
    return at, session_id


class PostgresSessions:
    """Read side of the sessions table for the gateway (tenant-scoped)."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def get(self, tenant_id: str, session_id: str) -> SessionRow:
        """The session of this tenant; NotFoundError for an unknown id or another tenant's."""
        async with translated("get session"):
            row = await self._pool.fetchrow(_GET, session_id, tenant_id, timeout=self._timeout)
        if row is None:
            raise NotFoundError(f"session {session_id} not found")
        return SessionRow(**dict(row))

    async def open(self, store: PostgresEventStore, created: Envelope, owner: str) -> SessionRow:
        """Append a new session's session.created event and record its owner, atomically."""
        async with (
            translated("open session"),
            self._pool.acquire(timeout=self._timeout) as conn,
            conn.transaction(),
        ):
            await store.append([created], expected_version=0, conn=conn)
            row = await conn.fetchrow(
                _SET_OWNER, created.session_id, created.tenant_id, owner, timeout=self._timeout
            )
        assert row is not None  # appended in this same transaction
        return SessionRow(**dict(row))

    async def set_shared(self, tenant_id: str, session_id: str, shared: bool) -> SessionRow:
        """Share the session with the tenant's users, or stop sharing it."""
        async with translated("share session"):
            row = await self._pool.fetchrow(
                _SET_SHARED, session_id, tenant_id, shared, timeout=self._timeout
            )
        if row is None:
            raise NotFoundError(f"session {session_id} not found")
        return SessionRow(**dict(row))

    async def list(
        self,
        tenant_id: str,
        *,
        owner: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> SessionPage:
        """The tenant's sessions (with `owner`: that user's and the shared ones), most
        recently updated first, `limit` per page."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be between 1 and {MAX_PAGE}")
        async with translated("list sessions"):
            if cursor is None:
                rows = await self._pool.fetch(
                    _FIRST, tenant_id, limit, owner, timeout=self._timeout
                )
            else:
                at, sid = decode_cursor(cursor)
                rows = await self._pool.fetch(
                    _AFTER, tenant_id, limit, owner, at, sid, timeout=self._timeout
                )
        page = [SessionRow(**dict(r)) for r in rows]
        next_cursor = encode_cursor(page[-1]) if len(page) == limit else None
        return SessionPage(sessions=page, next_cursor=next_cursor)
