"""Session snapshots in PostgreSQL: a SessionState serialised at some seq."""

from __future__ import annotations

from typing import Any

import asyncpg

from somaagent.adapters.postgres.driver_errors import Conn, connection, translated
from somaagent.domain.constants import TABLE_SNAPSHOTS
from somaagent.domain.session_state import SessionState

_LATEST = f"SELECT state FROM {TABLE_SNAPSHOTS} WHERE session_id = $1 ORDER BY seq DESC LIMIT 1"
_SAVE = (
    f"INSERT INTO {TABLE_SNAPSHOTS} (session_id, seq, state) VALUES ($1, $2, $3::json)"
    " ON CONFLICT (session_id, seq) DO NOTHING"
)


class PostgresSnapshotStore:
    """Latest-wins snapshots of replayed session state, keyed by (session_id, seq)."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def latest(self, session_id: str, *, conn: Any = None) -> SessionState | None:
        """The newest snapshot of the session, or None."""
        given: Conn | None = conn
        async with (
            connection(self._pool, given, self._timeout, "snapshot latest") as c,
            translated("snapshot latest"),
        ):
            raw = await c.fetchval(_LATEST, session_id, timeout=self._timeout)
        return None if raw is None else SessionState.model_validate_json(raw)

    async def save(self, state: SessionState, *, conn: Any = None) -> None:
        """Store the state at its version (a second save at the same seq is a no-op)."""
        given: Conn | None = conn
        async with (
            connection(self._pool, given, self._timeout, "snapshot save") as c,
            translated("snapshot save"),
        ):
            await c.execute(
                _SAVE,
                state.session_id,
                state.version,
                state.model_dump_json(),
                timeout=self._timeout,
            )
