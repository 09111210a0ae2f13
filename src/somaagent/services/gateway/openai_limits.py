"""The OpenAI API's per-tenant limits, on the Redis limiter: 429 with Retry-After.

`admit` counts every request of a tenant against `openai.requests_per_window` (refused
requests count too, as OpenAI's own limits do). `take_slot` holds one of the tenant's
`openai.concurrent_turns` slots for a turn until `TurnSlot.release`, which the routes call
when the answer is sent, the turn fails, or the client goes away. The lease outlives the
turn's own timeout, so a slot of a gateway that died frees itself.

A request to a named session is also marked as running (its session and exact user
messages): the same request sent again while its turn runs gets 409 with Retry-After (the
OpenAI SDKs retry it), not a second turn; once the turn completed, the resend gets the
stored answer (openai_sessions.answered).
"""

from __future__ import annotations

from dataclasses import dataclass

from somaagent.adapters.redis.limits import RedisTenantLimits
from somaagent.services.gateway.openai_schema import OpenAiError
from somaagent.services.gateway.runtime import Runtime

#: Seconds a slot's lease outlives the turn's timeout.
LEASE_MARGIN_S = 30.0


def tenant_limits(runtime: Runtime) -> RedisTenantLimits:
    return RedisTenantLimits(runtime.redis, key_prefix=runtime.settings.redis.key_prefix)


async def admit(runtime: Runtime, tenant_id: str) -> None:
    """Count one request; OpenAiError 429 past the tenant's rate."""
    s = runtime.settings.openai
    if s.requests_per_window == 0:
        return
    verdict = await tenant_limits(runtime).admit(
        tenant_id, per_window=s.requests_per_window, window_s=s.window_s
    )
    if not verdict.allowed:
        raise OpenAiError(
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
            f"this tenant may start {s.requests_per_window} requests per {s.window_s:g} s; "
            f"retry after {verdict.retry_after_s} s",
            retry_after_s=verdict.retry_after_s,
        )


@dataclass
class TurnSlot:
    """What a running turn holds: a tenant slot and a resend mark (each may be off).
    `release` gives both back, once."""

    limits: RedisTenantLimits
    tenant_id: str
    turn_id: str
    slot: bool = False
    resend: str | None = None

    async def release(self) -> None:
        slot, resend = self.slot, self.resend
        self.slot, self.resend = False, None
        if slot:
            await self.limits.release(self.tenant_id, self.turn_id)
        if resend is not None:
            await self.limits.unclaim(resend, self.turn_id)


async def take_slot(
    runtime: Runtime, tenant_id: str, turn_id: str, resend: str | None = None
) -> TurnSlot:
    """A concurrent-turn slot of the tenant, and the mark of `resend` when given.

    409 while the same request's turn still runs; 429 when the tenant's slots are taken.
    """
    s = runtime.settings.openai
    lease_s = s.turn_timeout_s + LEASE_MARGIN_S
    held = TurnSlot(tenant_limits(runtime), tenant_id, turn_id)
    if resend is not None:
        running = await held.limits.claim_once(resend, turn_id, ttl_s=lease_s)
        if running is not None:
            raise OpenAiError(
                409,
                "invalid_request_error",
                "turn_in_progress",
                f"the turn of this request ({running}) is still running; retry for its answer",
                retry_after_s=s.busy_retry_after_s,
            )
        held.resend = resend
    if s.concurrent_turns == 0:
        return held
    verdict = await held.limits.acquire(
        tenant_id, turn_id, limit=s.concurrent_turns, lease_s=lease_s
    )
    if not verdict.allowed:
        await held.release()
        raise OpenAiError(
            429,
            "rate_limit_error",
            "too_many_concurrent_turns",
            f"this tenant already runs {verdict.count} turns (limit {s.concurrent_turns}); "
            f"retry after {s.busy_retry_after_s} s",
            retry_after_s=s.busy_retry_after_s,
        )
    held.slot = True
    return held
