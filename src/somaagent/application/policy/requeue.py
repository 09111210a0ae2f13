"""Resolving requeue items: admins re-evaluate, allow or deny; releases re-publish once."""

from __future__ import annotations

import asyncio

import structlog

from somaagent.application.policy.metrics import REQUEUE_PENDING
from somaagent.application.policy.ports import AdminCheck, RequeueStore
from somaagent.domain.bus import EventBus
from somaagent.domain.errors import PolicyDeniedError, ValidationError
from somaagent.domain.events import Envelope
from somaagent.domain.policy import (
    PolicyClient,
    PolicyVerdict,
    RequeueItem,
    RequeueStatus,
    ResolveDecision,
)
from somaagent.domain.policy_events import HEADER_POLICY_RELEASE

log = structlog.get_logger(__name__)


class RequeueService:
    """The requeue use cases the API router and the retry job share."""

    def __init__(
        self,
        store: RequeueStore,
        client: PolicyClient,
        bus: EventBus,
        admins: AdminCheck,
        *,
        publish_timeout_s: float = 10.0,
    ) -> None:
        self.store = store
        self.client = client
        self.bus = bus
        self.admins = admins
        self.publish_timeout_s = publish_timeout_s

    async def list_items(
        self, tenant_id: str, status: RequeueStatus | None = None, limit: int = 100
    ) -> list[RequeueItem]:
        return await self.store.list_items(tenant_id, status=status, limit=limit)

    async def get(self, item_id: str, tenant_id: str) -> RequeueItem:
        return await self.store.get(item_id, tenant_id=tenant_id)

    async def resolve(
        self, item_id: str, *, tenant_id: str, subject: str, decision: ResolveDecision, reason: str
    ) -> RequeueItem:
        """An admin's resolution; every outcome leaves an audit event."""
        if not reason.strip():
            raise ValidationError("reason", "say why (it goes into the audit log)")
        if not await self.admins.is_admin(tenant_id, subject):
            raise PolicyDeniedError(f"user {subject} is not an admin of tenant {tenant_id}")
        item = await self.store.get(item_id, tenant_id=tenant_id)
        actor = f"user:{subject}"
        if decision == "deny":
            verdict = _manual(item, allow=False, why=f"denied by {actor}: {reason}")
            done = await self.store.finish(
                item_id,
                status="denied",
                actor=actor,
                reason=reason,
                verdict=verdict,
                audit_action="requeue.denied",
                on_transition=self._republish,  # the waiting turn hears the denial at once
            )
            REQUEUE_PENDING.dec()
            return done
        if decision == "allow":
            verdict = _manual(item, allow=True, why=f"allowed by {actor}: {reason}")
            return await self.release(item_id, actor, reason, verdict, "requeue.allowed")
        return await self.re_evaluate(item, actor, reason)

    async def re_evaluate(self, item: RequeueItem, actor: str, reason: str) -> RequeueItem:
        """Ask the engine again (no cache); release when it now allows, else keep waiting."""
        verdict = await self.client.evaluate(item.request, use_cache=False)
        if verdict.allow and not verdict.canary:
            return await self.release(item.id, actor, reason, verdict, "requeue.released")
        return await self.store.reschedule(
            item.id,
            verdict=verdict,
            next_attempt_at=item.next_attempt_at,
            actor=actor,
            reason=reason,
        )

    async def release(
        self, item_id: str, actor: str, reason: str, verdict: PolicyVerdict, audit_action: str
    ) -> RequeueItem:
        """pending -> released and re-publish the original action, in one transaction."""
        done = await self.store.finish(
            item_id,
            status="released",
            actor=actor,
            reason=reason,
            verdict=verdict,
            audit_action=audit_action,
            on_transition=self._republish,
        )
        REQUEUE_PENDING.dec()
        log.info("requeue.released", requeue_id=item_id, actor=actor, tenant_id=done.tenant_id)
        return done

    async def _republish(self, item: RequeueItem) -> None:
        if item.target_topic is None:
            return
        envelope = Envelope.model_validate(item.envelope)
        async with asyncio.timeout(self.publish_timeout_s):
            await self.bus.publish(
                item.target_topic, envelope, headers={HEADER_POLICY_RELEASE: item.id}
            )


def _manual(item: RequeueItem, *, allow: bool, why: str) -> PolicyVerdict:
    """The verdict an admin's override records (same constitution, explicit reason)."""
    return PolicyVerdict(
        allow=allow,
        reasons=[why],
        policy_version="admin-override",
        constitution_hash=item.verdict.constitution_hash,
    )
