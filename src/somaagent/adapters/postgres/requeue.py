"""The requeue store: PostgreSQL is the source of truth, Redis a sorted index of pending ids.

Rows live in `requeue_items`; the Redis sorted set `<key_prefix>soma:requeue:pending`
scores each pending id by its next attempt time. Losing Redis loses nothing: `reindex`
rebuilds the set from PostgreSQL. Leaving `pending` is one guarded transition
(`SELECT ... FOR UPDATE` + status check) inside a transaction that also writes the
audit event and, for a release, publishes the action, so it happens exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from somaagent.adapters.postgres.audit import append_audit
from somaagent.adapters.postgres.driver_errors import Conn, transaction, translated
from somaagent.domain.constants import REDIS_REQUEUE_PENDING, TABLE_REQUEUE
from somaagent.domain.errors import ConflictError, NotFoundError
from somaagent.domain.policy import AuditEvent, PolicyVerdict, RequeueItem, RequeueStatus

log = structlog.get_logger(__name__)

_COLUMNS = (
    "id, tenant_id, persona_id, session_id, action, resource, request, verdict, target_topic, "
    "envelope, status, attempts, next_attempt_at, created_at, updated_at, resolved_by, "
    "resolution_reason"
)
#: Runs inside the transition's transaction, with the item as it was; raising aborts it.
OnTransition = Callable[[RequeueItem], Awaitable[None]]


def _item(row: asyncpg.Record) -> RequeueItem:
    data: dict[str, Any] = dict(row)
    for key in ("request", "verdict", "envelope"):
        data[key] = json.loads(data[key])
    del data["action"], data["resource"]
    return RequeueItem.model_validate(data)


class PostgresRequeueStore:
    """Requeue items on a pool (search_path set) with a Redis index of the pending ones."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        key_prefix: str = "",
        timeout_s: float = 5.0,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.index_key = key_prefix + REDIS_REQUEUE_PENDING
        self.timeout_s = timeout_s

    async def add(self, item: RequeueItem) -> RequeueItem:
        async with translated("requeue add"):
            await self.pool.execute(
                f"INSERT INTO {TABLE_REQUEUE} ({_COLUMNS}) VALUES "
                "($1,$2,$3,$4,$5,$6,$7::jsonb,$8::jsonb,$9,$10::jsonb,$11,$12,$13,$14,$15,$16,$17)",
                item.id,
                item.tenant_id,
                item.persona_id,
                item.session_id,
                item.request.action,
                item.request.resource,
                item.request.model_dump_json(),
                item.verdict.model_dump_json(),
                item.target_topic,
                json.dumps(item.envelope),
                item.status,
                item.attempts,
                item.next_attempt_at,
                item.created_at,
                item.updated_at,
                item.resolved_by,
                item.resolution_reason,
                timeout=self.timeout_s,
            )
        await self._index(item.id, item.next_attempt_at)
        return item

    async def get(self, item_id: str, *, tenant_id: str | None = None) -> RequeueItem:
        async with translated("requeue get"):
            row = await self.pool.fetchrow(
                f"SELECT {_COLUMNS} FROM {TABLE_REQUEUE} WHERE id = $1",
                item_id,
                timeout=self.timeout_s,
            )
        if row is None or (tenant_id is not None and row["tenant_id"] != tenant_id):
            raise NotFoundError(f"no requeue item {item_id}")
        return _item(row)

    async def list_items(
        self, tenant_id: str, *, status: RequeueStatus | None = None, limit: int = 100
    ) -> list[RequeueItem]:
        async with translated("requeue list"):
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM {TABLE_REQUEUE} WHERE tenant_id = $1 "
                "AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC LIMIT $3",
                tenant_id,
                status,
                limit,
                timeout=self.timeout_s,
            )
        return [_item(r) for r in rows]

    async def finish(
        self,
        item_id: str,
        *,
        status: RequeueStatus,
        actor: str,
        reason: str,
        verdict: PolicyVerdict,
        audit_action: str,
        on_transition: OnTransition | None = None,
    ) -> RequeueItem:
        """Move a pending item to a final status exactly once, with its audit event.

        Raises ConflictError when the item is no longer pending (someone else resolved it).
        """
        async with transaction(self.pool, "requeue finish") as conn:
            before = await self._lock_pending(conn, item_id)
            if on_transition is not None:
                await on_transition(before)
            row = await conn.fetchrow(
                f"UPDATE {TABLE_REQUEUE} SET status = $2, verdict = $3::jsonb, resolved_by = $4, "
                f"resolution_reason = $5, updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
                item_id,
                status,
                verdict.model_dump_json(),
                actor,
                reason,
            )
            await append_audit(conn, _audit(before, actor, audit_action, reason, verdict))
        await self._unindex(item_id)
        return _item(_present(row, item_id))

    async def reschedule(
        self,
        item_id: str,
        *,
        verdict: PolicyVerdict,
        next_attempt_at: datetime,
        actor: str,
        reason: str,
    ) -> RequeueItem:
        """Still blocked: count the attempt, keep the new verdict, try again later (audited)."""
        async with transaction(self.pool, "requeue reschedule") as conn:
            before = await self._lock_pending(conn, item_id)
            row = await conn.fetchrow(
                f"UPDATE {TABLE_REQUEUE} SET attempts = attempts + 1, verdict = $2::jsonb, "
                f"next_attempt_at = $3, updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
                item_id,
                verdict.model_dump_json(),
                next_attempt_at,
            )
            await append_audit(conn, _audit(before, actor, "requeue.re-evaluated", reason, verdict))
        await self._index(item_id, next_attempt_at)
        return _item(_present(row, item_id))

    async def _lock_pending(self, conn: Conn, item_id: str) -> RequeueItem:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM {TABLE_REQUEUE} WHERE id = $1 FOR UPDATE", item_id
        )
        if row is None:
            raise NotFoundError(f"no requeue item {item_id}")
        if row["status"] != "pending":
            raise ConflictError(f"requeue item {item_id} is already {row['status']}")
        return _item(row)

    # -- the Redis index ------------------------------------------------------------
    async def due(self, now: datetime, limit: int = 50) -> list[str]:
        """Ids whose next attempt is due, from the Redis index."""
        try:
            ids = await self.redis.zrangebyscore(self.index_key, "-inf", now.timestamp(), 0, limit)
        except RedisError as exc:
            log.warning("requeue.index.unavailable", error=str(exc))
            return []
        return [_text(i) for i in ids]

    async def pending_count(self) -> int:
        return int(await self.redis.zcard(self.index_key))

    async def reindex(self) -> int:
        """Make the Redis index match PostgreSQL's pending items; returns how many are pending."""
        async with translated("requeue reindex"):
            rows = await self.pool.fetch(
                f"SELECT id, next_attempt_at FROM {TABLE_REQUEUE} WHERE status = 'pending'",
                timeout=self.timeout_s,
            )
        pending = {r["id"]: r["next_attempt_at"].timestamp() for r in rows}
        members = {_text(m) for m in await self.redis.zrange(self.index_key, 0, -1)}
        async with self.redis.pipeline(transaction=False) as pipe:
            if pending:
                pipe.zadd(self.index_key, pending)
            for stale in members - set(pending):
                pipe.zrem(self.index_key, stale)
            await pipe.execute()
        return len(pending)

    async def sync_index(self, item: RequeueItem) -> None:
        """Point the index entry of one item at its PostgreSQL state."""
        if item.status == "pending":
            await self._index(item.id, item.next_attempt_at)
        else:
            await self._unindex(item.id)

    async def _index(self, item_id: str, at: datetime) -> None:
        try:
            await self.redis.zadd(self.index_key, {item_id: at.timestamp()})
        except RedisError as exc:  # PostgreSQL holds the item; reindex restores the entry
            log.warning("requeue.index.failed", requeue_id=item_id, error=str(exc))

    async def _unindex(self, item_id: str) -> None:
        try:
            await self.redis.zrem(self.index_key, item_id)
        except RedisError as exc:
            log.warning("requeue.index.failed", requeue_id=item_id, error=str(exc))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _present(row: asyncpg.Record | None, item_id: str) -> asyncpg.Record:
    if row is None:
        raise NotFoundError(f"no requeue item {item_id}")
    return row


def _audit(
    before: RequeueItem, actor: str, action: str, reason: str, after: PolicyVerdict
) -> AuditEvent:
    return AuditEvent(
        actor=actor,
        tenant_id=before.tenant_id,
        action=action,
        subject_id=before.id,
        reason=reason,
        verdict_before=before.verdict.model_dump(mode="json"),
        verdict_after=after.model_dump(mode="json"),
    )
