"""The session repository: session context from Redis, PostgreSQL as the source of truth.

    repo = SessionRepository(PostgresEventStore(pool), PostgresSnapshotStore(pool),
                             RedisSessionCache(redis, key_prefix=settings.redis.key_prefix))
    state = await repo.load(session_id)            # Redis, else snapshot + events in Postgres
    state = await repo.commit(state, [turn_event])  # append (optimistic), snapshot, re-cache

A Redis miss, outage or unreadable value falls back to PostgreSQL: logged
(`session.cache.fallback`) and counted (`soma_session_rehydrations_total{source,reason}`),
never an error to the user. The cache can be stale (e.g. a refresh lost while Redis was
down); `commit` appends with `expected_version=state.version`, so staleness surfaces as
ConflictError: reload with `load_from_store` and retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import pydantic
import structlog
from prometheus_client import Counter

from somaagent.domain.errors import BackendError
from somaagent.domain.events import Envelope
from somaagent.domain.session_ports import SessionCache, SessionEventLog, SnapshotStore
from somaagent.domain.session_state import DEFAULT_WINDOW, SessionState, replay

SNAPSHOT_EVERY: Final = 50

log = structlog.get_logger(__name__)

REHYDRATIONS = Counter(
    "soma_session_rehydrations_total",
    "Session contexts rehydrated, by where they came from and why.",
    ["source", "reason"],
)
CACHE_WRITE_FAILURES = Counter(
    "soma_session_cache_write_failures_total",
    "Session cache refreshes that failed (Redis down or slow); Postgres still has the data.",
)


class SessionRepository:
    """Loads and commits session context; see the module docstring."""

    def __init__(
        self,
        events: SessionEventLog,
        snapshots: SnapshotStore,
        cache: SessionCache,
        *,
        snapshot_every: int = SNAPSHOT_EVERY,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        self._events = events
        self._snapshots = snapshots
        self._cache = cache
        self._snapshot_every = snapshot_every
        self._window = window

    async def load(self, session_id: str) -> SessionState | None:
        """The session's context, or None for a session with no events."""
        cached, reason = await self._from_cache(session_id)
        if cached is not None:
            REHYDRATIONS.labels("redis", "hit").inc()
            return cached
        REHYDRATIONS.labels("postgres", reason).inc()
        state = await self.load_from_store(session_id)
        if state is not None:
            await self.remember(state)
        return state

    async def load_from_store(self, session_id: str) -> SessionState | None:
        """Rebuild from PostgreSQL: the newest snapshot plus the events after it."""
        snapshot = await self._snapshots.latest(session_id)
        start = snapshot.version + 1 if snapshot else 1
        events = await self._events.read_session(session_id, from_seq=start)
        return replay(events, snapshot, window=self._window)

    async def commit(
        self, state: SessionState | None, events: Sequence[Envelope], *, conn: Any = None
    ) -> SessionState:
        """Append events expecting the state's version; return the state after them.

        With `conn` (the caller's open transaction) the cache is not touched: call
        `remember(new_state)` after the caller commits.
        """
        expected = state.version if state is not None else 0
        result = await self._events.append(events, expected_version=expected, conn=conn)
        ordered = sorted(result.stored, key=lambda s: s.seq)
        new = replay(ordered, state, window=self._window)
        if new is None:  # pragma: no cover - append stores at least one event
            raise AssertionError("append returned no events")
        if self._snapshot_due(state, new):
            await self._snapshot(new, conn)
        if conn is None:
            await self.remember(new)
        return new

    async def remember(self, state: SessionState) -> None:
        """Refresh the cache; a Redis failure is logged and counted, never raised."""
        try:
            await self._cache.put(state.session_id, state.model_dump_json().encode())
        except BackendError as exc:
            CACHE_WRITE_FAILURES.inc()
            log.warning("session.cache.write_failed", session_id=state.session_id, error=str(exc))

    async def _from_cache(self, session_id: str) -> tuple[SessionState | None, str]:
        try:
            raw = await self._cache.get(session_id)
        except BackendError as exc:
            log.warning(
                "session.cache.fallback",
                session_id=session_id,
                reason="unavailable",
                error=str(exc),
            )
            return None, "unavailable"
        if raw is None:
            return None, "miss"
        try:
            return SessionState.model_validate_json(raw), "hit"
        except pydantic.ValidationError as exc:
            log.warning(
                "session.cache.fallback",
                session_id=session_id,
                reason="corrupt",
                error=str(exc.errors(include_url=False)[:1]),
            )
            return None, "corrupt"

    def _snapshot_due(self, before: SessionState | None, after: SessionState) -> bool:
        done = before.turn_count if before else 0
        return after.turn_count // self._snapshot_every > done // self._snapshot_every

    async def _snapshot(self, state: SessionState, conn: Any) -> None:
        if conn is not None:  # inside the caller's transaction: fail together
            await self._snapshots.save(state, conn=conn)
            return
        try:
            await self._snapshots.save(state)
        except BackendError as exc:  # the events are committed; a snapshot is an optimisation
            log.warning("session.snapshot.failed", session_id=state.session_id, error=str(exc))
