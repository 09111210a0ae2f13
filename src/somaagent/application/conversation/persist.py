"""Finishing a turn: the turn's events and its final state in one transaction."""

from __future__ import annotations

import uuid
from collections import Counter as Tally
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

from somaagent.application.conversation.ports import Transactions, TurnStateStore
from somaagent.application.conversation.record import (
    finished_turn,
    turn_events,
    wait_timeout_reason,
)
from somaagent.application.history import HistoryManager
from somaagent.application.sessions import SessionRepository
from somaagent.domain.errors import ConflictError, SomaError
from somaagent.domain.events import Envelope, utc_now
from somaagent.domain.llm import ChatResult
from somaagent.domain.session_state import SessionState
from somaagent.domain.turn_state import TurnState
from somaagent.domain.turns import ConversationTurn

log = structlog.get_logger(__name__)

#: Bounded labels only: a tenant, a persona and a profile are few; never a session id.
TURN_LABELS = ["status", "tenant", "persona", "profile"]
REQUESTS = Counter(
    "conversation_requests_total",
    "Conversation turns finished, by status (completed, error), tenant, persona and the "
    "model profile that answered ('none' when no model answered).",
    TURN_LABELS,
)
LATENCY = Histogram(
    "conversation_latency_seconds",
    "Time from a turn's start to its completion (including tool waits), in seconds.",
    TURN_LABELS,
    buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
)
APPEND_ATTEMPTS = 3


class TurnPersister:
    def __init__(
        self,
        *,
        transactions: Transactions,
        sessions: SessionRepository,
        turns: TurnStateStore,
        history: HistoryManager,
    ) -> None:
        self._tx = transactions
        self._sessions = sessions
        self._turns = turns
        self._history = history
        self._committed: dict[str, SessionState] = {}

    async def complete(
        self, state: TurnState, *, answer: ChatResult, ttft_s: float | None
    ) -> ConversationTurn:
        turn = finished_turn(
            state, answer=answer, error=None, completed_at=utc_now(), ttft_s=ttft_s
        )
        state.status = "completed"
        await self._commit(state, turn)
        return turn

    async def fail(self, state: TurnState, reason: str) -> ConversationTurn:
        turn = finished_turn(state, answer=None, error=reason, completed_at=utc_now(), ttft_s=None)
        state.status = "failed"
        await self._commit(state, turn)
        new = self._committed.pop(state.correlation_id, None)
        if new is not None:
            await self._sessions.remember(new)
        return turn

    async def hold(self, state: TurnState) -> None:
        """A turn that waits for an admin: its events so far (the message, the held call, the
        verdict) go into the session's history now, with its state, in one transaction, so
        the events API and `soma replay` show what it waits for. The turn's final commit
        appends the same events again under the same ids: no-ops."""
        turn = finished_turn(state, answer=None, error=None, completed_at=utc_now(), ttft_s=None)
        events = stable_ids(state, turn_events(state, turn))[:-1]  # all but turn.completed
        await self._append(state, events)
        new = self._committed.pop(state.correlation_id, None)
        if new is not None:
            await self._sessions.remember(new)

    async def _commit(self, state: TurnState, turn: ConversationTurn) -> None:
        """Append the turn's events and store its final state, in one transaction."""
        await self._append(state, stable_ids(state, turn_events(state, turn)))
        labels = turn_labels(state, turn.status)
        REQUESTS.labels(*labels).inc()
        LATENCY.labels(*labels).observe(turn.latency_s or 0.0)

    async def _append(self, state: TurnState, events: list[Envelope]) -> None:
        """Append `events` expecting the session's version (on a conflict, reload and
        retry) and save the turn's state, in one transaction."""
        session = await self._sessions.load(state.session_id)
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            try:
                async with self._tx() as conn:
                    new = await self._sessions.commit(session, events, conn=conn)
                    await self._turns.save(state, conn=conn)
                break
            except ConflictError:
                if attempt == APPEND_ATTEMPTS:
                    raise
                session = await self._sessions.load_from_store(state.session_id)
        self._committed[state.correlation_id] = new

    async def after_commit(self, state: TurnState) -> None:
        """Refresh the cache, then summarise older turns when due (a summary is an event)."""
        new = self._committed.pop(state.correlation_id, None)
        if new is None:
            return
        await self._sessions.remember(new)
        try:
            summary = await self._history.summarize_if_due(new, model=state.model_profile)
            if summary is not None:
                await self._sessions.commit(new, [summary])
        except ConflictError:
            log.info("summary.skipped_concurrent_turn", session_id=state.session_id)
        except SomaError as exc:
            # the turn is done and durable; a summary is retried after the next turn
            log.warning("summary.failed", session_id=state.session_id, error=exc.message)

    async def expire_waiting(self) -> list[tuple[TurnState, str]]:
        """Waiting turns past their deadline, finished as failed (one transaction), each
        with the reason it failed."""
        async with self._tx() as conn:
            expired = await self._turns.claim_expired(conn, utc_now())
            reasons = [await self._expire_one(state, conn) for state in expired]
        for state in expired:
            new = self._committed.pop(state.correlation_id, None)
            if new is not None:
                await self._sessions.remember(new)
        return list(zip(expired, reasons, strict=True))

    async def _expire_one(self, state: TurnState, conn: Any) -> str:
        reason = wait_timeout_reason(state)
        turn = finished_turn(state, answer=None, error=reason, completed_at=utc_now(), ttft_s=None)
        state.status = "failed"
        session = await self._sessions.load_from_store(state.session_id)
        events = stable_ids(state, turn_events(state, turn))
        new = await self._sessions.commit(session, events, conn=conn)
        await self._turns.save(state, conn=conn)
        self._committed[state.correlation_id] = new
        REQUESTS.labels(*turn_labels(state, "error")).inc()
        return reason


def turn_labels(state: TurnState, status: str) -> tuple[str, str, str, str]:
    return (status, state.tenant_id, state.persona_id, state.model_profile or "none")


def stable_ids(state: TurnState, events: list[Envelope]) -> list[Envelope]:
    """The turn's events with ids derived from the turn (its n-th event of a type), so a
    turn's events appended early (held for an admin) and again at its end are stored once.
    The user's message keeps the inbound event's id."""
    seen: Tally[str] = Tally()
    out = []
    for event in events:
        if event.event_id == state.inbound_event_id:
            out.append(event)
            continue
        n = seen[event.type]
        seen[event.type] += 1
        stable = uuid.uuid5(uuid.NAMESPACE_URL, f"{state.correlation_id}|{event.type}|{n}")
        out.append(event.model_copy(update={"event_id": str(stable)}))
    return out
