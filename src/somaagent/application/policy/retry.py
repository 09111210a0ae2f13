"""The requeue retry job: re-evaluate pending items with backoff, release what now passes.

Run by the conversation worker (`await job.run(stop_event)`); any number of workers may
run it. Each item is worked on by one worker at a time under a Redis lease
(`SET <prefix>soma:lease:requeue:<id> <owner> NX PX <lease_ms>`); PostgreSQL stays the
source of truth, so the guarded pending -> released transition makes a release happen
exactly once even if a lease expires mid-attempt. After `max_attempts` re-evaluations an
item ends as `failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from somaagent.application.policy.metrics import REQUEUE_PENDING
from somaagent.application.policy.ports import RequeueStore
from somaagent.application.policy.requeue import RequeueService
from somaagent.domain.constants import REDIS_LEASE_PREFIX
from somaagent.domain.errors import ConflictError, NotFoundError, SomaError
from somaagent.domain.events import new_id, utc_now
from somaagent.domain.policy import PolicyVerdict, RequeueItem

log = structlog.get_logger(__name__)

ACTOR = "system:requeue-retry"
_RELEASE_LEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def backoff_s(attempt: int, base_s: float, cap_s: float) -> float:
    """Seconds before attempt `attempt + 1`: base * 2^(attempt-1), capped."""
    return float(min(cap_s, base_s * (2 ** max(attempt - 1, 0))))


@dataclass
class RetryPass:
    released: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 8
    base_backoff_s: float = 2.0
    max_backoff_s: float = 300.0
    lease_ms: int = 30_000
    batch: int = 50
    interval_s: float = 1.0
    reindex_every: int = 60


class RequeueRetryJob:
    def __init__(
        self,
        service: RequeueService,
        store: RequeueStore,
        redis: aioredis.Redis,
        *,
        key_prefix: str = "",
        settings: RetrySettings | None = None,
    ) -> None:
        self.service = service
        self.store = store
        self.redis = redis
        self.lease_prefix = key_prefix + REDIS_LEASE_PREFIX + "requeue:"
        self.settings = settings or RetrySettings()
        self.owner = new_id()

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until `stop` is set; rebuilds the Redis index now and then."""
        passes = 0
        while not stop.is_set():
            try:
                if passes % self.settings.reindex_every == 0:
                    await self.store.reindex()
                await self.run_once()
            except (SomaError, RedisError) as exc:  # a backend hiccup must not end the job
                log.warning("requeue.retry.pass_failed", error=repr(exc))
            passes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.interval_s)

    async def run_once(self, now: datetime | None = None) -> RetryPass:
        """Attempt every due item once."""
        moment = now or utc_now()
        report = RetryPass()
        for item_id in await self.store.due(moment, self.settings.batch):
            await self._attempt(item_id, moment, report)
        REQUEUE_PENDING.set(await self.store.pending_count())
        return report

    async def _attempt(self, item_id: str, now: datetime, report: RetryPass) -> None:
        lease = self.lease_prefix + item_id
        try:
            leased = await self.redis.set(lease, self.owner, nx=True, px=self.settings.lease_ms)
        except RedisError as exc:
            log.warning("requeue.lease.unavailable", requeue_id=item_id, error=str(exc))
            leased = False
        if not leased:
            report.skipped.append(item_id)
            return
        try:
            outcome = await self._work(item_id, now)
            getattr(report, outcome).append(item_id)
        except (ConflictError, NotFoundError):
            report.skipped.append(item_id)
        finally:
            with contextlib.suppress(RedisError):
                await self.redis.eval(_RELEASE_LEASE, 1, lease, self.owner)

    async def _work(self, item_id: str, now: datetime) -> str:
        item = await self.store.get(item_id)
        if item.status != "pending" or item.next_attempt_at > now:
            await self.store.sync_index(item)
            return "skipped"
        verdict = await self.service.client.evaluate(item.request, use_cache=False)
        if verdict.allow and not verdict.canary:
            await self.service.release(
                item_id, ACTOR, "policy now allows", verdict, "requeue.released"
            )
            return "released"
        if item.attempts + 1 >= self.settings.max_attempts:
            await self._give_up(item, verdict)
            return "failed"
        wait = backoff_s(
            item.attempts + 1, self.settings.base_backoff_s, self.settings.max_backoff_s
        )
        await self.store.reschedule(
            item_id,
            verdict=verdict,
            next_attempt_at=now + timedelta(seconds=wait),
            actor=ACTOR,
            reason=f"still blocked; next attempt in {wait:.0f}s",
        )
        return "rescheduled"

    async def _give_up(self, item: RequeueItem, verdict: PolicyVerdict) -> None:
        reason = f"gave up after {self.settings.max_attempts} attempts"
        await self.store.finish(
            item.id,
            status="failed",
            actor=ACTOR,
            reason=reason,
            verdict=verdict,
            audit_action="requeue.gave-up",
        )
        log.warning("requeue.gave_up", requeue_id=item.id, tenant_id=item.tenant_id)
