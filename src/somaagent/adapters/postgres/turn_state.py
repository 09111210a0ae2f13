"""Durable turn state in PostgreSQL: claim a step, save a wait, finish, expire.

Every claim runs under `SELECT ... FOR UPDATE`, so two workers handed the same event
(a rebalance, a redelivery) cannot both run the same step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import asyncpg

from somaagent.adapters.postgres.driver_errors import Conn, connection, translated
from somaagent.domain.errors import SupersededError
from somaagent.domain.turn_state import FINISHED, WAITING, Claim, TurnState

_SELECT: Final = "SELECT data FROM turn_state WHERE correlation_id = $1 FOR UPDATE"
_INSERT: Final = """
INSERT INTO turn_state (correlation_id, session_id, tenant_id, inbound_event_id, status,
                        attempt, processing_event_id, awaiting_request_id, deadline, data)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
ON CONFLICT DO NOTHING
RETURNING correlation_id
"""
_UPDATE: Final = """
UPDATE turn_state SET status = $2, attempt = $3, processing_event_id = $4,
       awaiting_request_id = $5, deadline = $6, data = $7::jsonb, updated_at = now()
WHERE correlation_id = $1 AND attempt <= $3
RETURNING correlation_id
"""
_EXPIRED: Final = """
SELECT data FROM turn_state
WHERE status IN ('awaiting_tool', 'awaiting_policy') AND deadline < $1
ORDER BY deadline LIMIT $2
FOR UPDATE SKIP LOCKED
"""


def _load(raw: str) -> TurnState:
    return TurnState.model_validate_json(raw)


class PostgresTurnStates:
    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def claim_inbound(self, fresh: TurnState) -> tuple[Claim, TurnState]:
        """Start the turn of a user message, or say why not (a duplicate), or restart it."""
        async with (
            connection(self._pool, None, self._timeout, "turn claim") as c,
            translated("turn claim"),
            c.transaction(),
        ):
            raw = await c.fetchval(_SELECT, fresh.correlation_id, timeout=self._timeout)
            if raw is None:
                fresh.processing_event_id = fresh.inbound_event_id
                inserted = await self._insert(c, fresh)
                return ("new", fresh) if inserted else ("duplicate", fresh)
            state = _load(raw)
            if state.status == "running" and state.processing_event_id == fresh.inbound_event_id:
                state.restart(fresh.inbound_event_id)
                await self.save(state, conn=c)
                return "restart", state
            return "duplicate", state

    async def claim_result(
        self, correlation_id: str, request_id: str, event_id: str
    ) -> tuple[Claim, TurnState | None]:
        """Resume the turn waiting for `request_id`; a stale or repeated result is a duplicate."""
        async with (
            connection(self._pool, None, self._timeout, "turn resume") as c,
            translated("turn resume"),
            c.transaction(),
        ):
            raw = await c.fetchval(_SELECT, correlation_id, timeout=self._timeout)
            if raw is None:
                return "duplicate", None
            state = _load(raw)
            if state.status in WAITING and state.awaiting_request_id == request_id:
                state.resume(event_id)
                await self.save(state, conn=c)
                return "resume", state
            if state.status == "running" and state.processing_event_id == event_id:
                state.restart(event_id)
                await self.save(state, conn=c)
                return "restart", state
            return "duplicate", state

    async def get(self, correlation_id: str) -> TurnState | None:
        async with (
            connection(self._pool, None, self._timeout, "turn get") as c,
            translated("turn get"),
        ):
            raw = await c.fetchval(
                "SELECT data FROM turn_state WHERE correlation_id = $1", correlation_id
            )
        return None if raw is None else _load(raw)

    async def save(self, state: TurnState, *, conn: Conn | None = None) -> None:
        """Store the state; SupersededError when a newer attempt of the step owns the turn
        (a redelivery restarted it while this attempt was slow, not dead): this one stops."""
        async with (
            connection(self._pool, conn, self._timeout, "turn save") as c,
            translated("turn save"),
        ):
            saved = await c.fetchval(
                _UPDATE,
                state.correlation_id,
                state.status,
                state.attempt,
                state.processing_event_id,
                state.awaiting_request_id,
                state.deadline,
                state.model_dump_json(),
                timeout=self._timeout,
            )
        if saved is None:
            raise SupersededError(
                f"turn {state.correlation_id}: attempt {state.attempt} was superseded"
            )

    async def claim_expired(self, conn: Conn, now: datetime, limit: int = 50) -> list[TurnState]:
        """Waiting turns past their deadline, locked in the caller's transaction."""
        async with translated("turn expire"):
            rows = await conn.fetch(_EXPIRED, now, limit, timeout=self._timeout)
        states = [_load(r["data"]) for r in rows]
        return [s for s in states if s.status not in FINISHED]

    async def _insert(self, c: Conn, state: TurnState) -> bool:
        got = await c.fetchval(
            _INSERT,
            state.correlation_id,
            state.session_id,
            state.tenant_id,
            state.inbound_event_id,
            state.status,
            state.attempt,
            state.processing_event_id,
            state.awaiting_request_id,
            state.deadline,
            state.model_dump_json(),
            timeout=self._timeout,
        )
        return got is not None
