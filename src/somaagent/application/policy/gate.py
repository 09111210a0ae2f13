"""Policy gates for tool requests and memory writes.

A gate asks the policy client. On a denial (or an engine failure, which fails closed) it
stores the action in the requeue store, publishes `policy.action.blocked` on the
policy.blocked topic, counts it, and returns a GateResult whose `user_message` the caller
sends to the session as a status the user sees. The caller does not publish the action.

An action that a requeue resolution re-published carries the `soma-policy-release` header;
the executor's gate answers with the resolution's verdict once it has checked that the
named item was released (it runs) or denied by an admin (it fails "denied", saying who and
why) with exactly this event.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog

from somaagent.application.policy.metrics import POLICY_BLOCKED, REQUEUE_PENDING
from somaagent.application.policy.ports import RequeueStore
from somaagent.domain.bus import EventBus
from somaagent.domain.constants import TOPIC_POLICY_BLOCKED, TOPIC_TOOL_REQUESTS
from somaagent.domain.errors import NotFoundError
from somaagent.domain.event_types import TOOL_CALL_REQUESTED, make_event
from somaagent.domain.events import Envelope
from somaagent.domain.policy import PolicyClient, PolicyRequest, PolicyVerdict, RequeueItem
from somaagent.domain.policy_events import POLICY_ACTION_BLOCKED, PolicyBlocked
from somaagent.domain.tools import ToolCall

log = structlog.get_logger(__name__)

RELEASE_VISIBLE_TRIES = 50
RELEASE_VISIBLE_WAIT_S = 0.1


@dataclass(frozen=True)
class GateResult:
    verdict: PolicyVerdict
    requeue_id: str | None = None
    #: The verdict is an admin's (or a re-evaluation's) resolution of a held action.
    resolved: bool = False

    @property
    def allowed(self) -> bool:
        return self.verdict.allow

    @property
    def user_message(self) -> str:
        if self.allowed:
            return "allowed"
        why = "; ".join(self.verdict.reasons) or "no reason given"
        if self.requeue_id is None:
            return f"Blocked by policy ({why})."
        return f"Blocked by policy ({why}). Held for review as request {self.requeue_id}."


def tool_envelope(call: ToolCall, *, causation_id: str | None = None) -> Envelope:
    """The envelope a worker publishes on tool.requests for `call` (a fresh event id each
    time; the executor runs a request id once however often it is published)."""
    return make_event(
        TOOL_CALL_REQUESTED,
        call,
        session_id=call.session_id,
        tenant_id=call.tenant_id,
        persona_id=call.persona_id,
        correlation_id=call.correlation_id,
        causation_id=causation_id,
    )


def tool_policy_request(call: ToolCall, action: str) -> PolicyRequest:
    return PolicyRequest(
        tenant=call.tenant_id,
        persona=call.persona_id,
        action=action,
        resource=call.tool,
        payload=call.arguments,
        context={"timeout_s": call.timeout_s},
    )


class PolicyGate:
    """Gates tool requests (worker), tool executions (executor) and memory writes."""

    def __init__(
        self,
        client: PolicyClient,
        bus: EventBus,
        store: RequeueStore,
        *,
        blocked_topic: str = TOPIC_POLICY_BLOCKED,
        tool_topic: str = TOPIC_TOOL_REQUESTS,
        publish_timeout_s: float = 10.0,
    ) -> None:
        self.client = client
        self.bus = bus
        self.store = store
        self.blocked_topic = blocked_topic
        self.tool_topic = tool_topic
        self.publish_timeout_s = publish_timeout_s

    async def check_tool_request(self, call: ToolCall) -> PolicyVerdict:
        """The worker's port (application/conversation/ports.py ToolGate)."""
        return (await self.guard_tool(call)).verdict

    async def guard_tool(
        self,
        call: ToolCall,
        *,
        envelope: Envelope | None = None,
        action: str = "tool.request",
        released_by: str | None = None,
    ) -> GateResult:
        """Gate a tool call; `released_by` is the soma-policy-release header, if any."""
        event = envelope or tool_envelope(call)
        if released_by is not None:
            honoured = await self._released(released_by, event)
            if honoured is not None:
                return GateResult(honoured, resolved=True)
        request = tool_policy_request(call, action)
        return await self.guard(request, event, target_topic=self.tool_topic)

    async def guard_memory_write(
        self,
        envelope: Envelope,
        *,
        namespace: str,
        content: dict[str, Any],
        target_topic: str | None = None,
    ) -> GateResult:
        request = PolicyRequest(
            tenant=envelope.tenant_id,
            persona=envelope.persona_id,
            action="memory.write",
            resource=namespace,
            payload=content,
        )
        return await self.guard(request, envelope, target_topic=target_topic)

    async def guard(
        self, request: PolicyRequest, envelope: Envelope, *, target_topic: str | None
    ) -> GateResult:
        verdict = await self.client.evaluate(request)
        if verdict.allow:
            return GateResult(verdict)
        return await self._block(request, envelope, verdict, target_topic)

    async def _block(
        self,
        request: PolicyRequest,
        envelope: Envelope,
        verdict: PolicyVerdict,
        target_topic: str | None,
    ) -> GateResult:
        item = RequeueItem(
            tenant_id=envelope.tenant_id,
            persona_id=envelope.persona_id,
            session_id=envelope.session_id,
            request=request,
            verdict=verdict,
            target_topic=target_topic,
            envelope=envelope.model_dump(mode="json"),
        )
        await self.store.add(item)
        REQUEUE_PENDING.inc()
        tool = request.resource if request.action.startswith("tool.") else "-"
        POLICY_BLOCKED.labels(request.action, request.tenant, request.persona, tool).inc()
        blocked = PolicyBlocked(
            requeue_id=item.id,
            action=request.action,
            resource=request.resource,
            verdict=verdict,
            target_topic=target_topic,
            blocked_event_id=envelope.event_id,
            blocked_event_type=envelope.type,
            blocked_payload=envelope.payload,
        )
        event = envelope.caused(POLICY_ACTION_BLOCKED, blocked.model_dump(mode="json"))
        async with asyncio.timeout(self.publish_timeout_s):
            await self.bus.publish(self.blocked_topic, event)
        log.warning(
            "policy.blocked",
            requeue_id=item.id,
            decision_id=verdict.decision_id,
            tenant_id=envelope.tenant_id,
            persona_id=envelope.persona_id,
            session_id=envelope.session_id,
            correlation_id=envelope.correlation_id,
            action=request.action,
            resource=request.resource,
            reasons=verdict.reasons,
            constitution_hash=verdict.constitution_hash,
        )
        return GateResult(verdict, item.id)

    async def _released(self, requeue_id: str, event: Envelope) -> PolicyVerdict | None:
        item = await self._item(requeue_id, event.tenant_id)
        # The release publishes inside the transaction that marks the item released, so the
        # re-published event can arrive before that commit is visible: give it a moment.
        for _ in range(RELEASE_VISIBLE_TRIES):
            if item is None or item.status != "pending":
                break
            await asyncio.sleep(RELEASE_VISIBLE_WAIT_S)
            item = await self._item(requeue_id, event.tenant_id)
        if (
            item is None
            or item.status not in {"released", "denied"}
            or item.envelope.get("event_id") != event.event_id
        ):
            log.warning("policy.release.mismatch", requeue_id=requeue_id, event_id=event.event_id)
            return None
        return item.verdict

    async def _item(self, requeue_id: str, tenant_id: str) -> RequeueItem | None:
        try:
            return await self.store.get(requeue_id, tenant_id=tenant_id)
        except NotFoundError:
            return None
