"""The policy client every service shares: timeouts, a safe cache, fail-closed, canary mode.

- Fail-closed: when the engine cannot answer (unreachable, timeout, 5xx, bad reply) the
  verdict is a denial whose reason says so.
- Cache: only *allows*, keyed by the full canonical request, for `cache_ttl_s`; the whole
  cache is dropped as soon as the engine reports a different constitution hash, and (with
  a PolicyEpochSource, e.g. `adapters.redis.policy_epoch.RedisPolicyEpoch`) as soon as the
  relationship epoch moves: every relationship write bumps it
  (`OpenFgaClient(on_change=epoch.bump)`) and each cache hit first reads it, so a revoked
  permission is denied on the very next decision, not after the TTL.
- Canary (per tenant or global): the engine is asked as usual, a would-block verdict is
  logged verbosely and counted, and the caller gets `allow=True, canary=True`.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import structlog
from opentelemetry.trace import SpanKind
from pydantic import ValidationError as PydanticValidationError

from somaagent.application.policy.config import PolicyClientSettings
from somaagent.application.policy.metrics import CANARY_WOULD_BLOCK, DECISION_SECONDS
from somaagent.application.policy.ports import PolicyEpochSource
from somaagent.closing import AsyncClosing
from somaagent.domain.errors import BackendError
from somaagent.domain.policy import PolicyRequest, PolicyVerdict
from somaagent.json_http import JsonHttp
from somaagent.telemetry.spans import inject, span

log = structlog.get_logger(__name__)
#: Idle connections to the engine are reused this long: under uvicorn's 5 s keep-alive, so
#: the client never sends on a connection the engine is closing (a fail-closed denial).
KEEPALIVE_S = 4.0


class DecisionCache:
    """Allows only, TTL-bounded, LRU-capped, flushed when the constitution hash changes."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.constitution_hash = ""
        self.epoch: str | None = None
        self._items: OrderedDict[bytes, tuple[float, PolicyVerdict]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: bytes, now: float) -> PolicyVerdict | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        if hit[0] <= now:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return hit[1]

    def sync_epoch(self, epoch: str | None) -> bool:
        """Drop everything when the relationship epoch moved; False when it is unknown."""
        if epoch != self.epoch:
            self._items.clear()
            self.epoch = epoch
        return epoch is not None

    def observe(self, key: bytes, verdict: PolicyVerdict, now: float) -> None:
        """Learn the engine's current hash from `verdict`; keep it if it is a cacheable allow."""
        if verdict.constitution_hash != self.constitution_hash:
            self._items.clear()
            self.constitution_hash = verdict.constitution_hash
        if not verdict.allow or verdict.canary or self.ttl_s <= 0 or self.max_entries <= 0:
            return
        self._items[key] = (now + self.ttl_s, verdict)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)


class HttpPolicyClient(AsyncClosing):
    """PolicyClient over the engine's HTTP API; `async with HttpPolicyClient(settings)`."""

    def __init__(
        self, settings: PolicyClientSettings, *, epoch: PolicyEpochSource | None = None
    ) -> None:
        self.settings = settings
        self.epoch = epoch
        self.cache = DecisionCache(settings.cache_ttl_s, settings.cache_max_entries)
        self._url = settings.url.rstrip("/") + "/v1/evaluate"
        self._http = JsonHttp(
            "policy engine",
            timeout_s=settings.timeout_s,
            max_connections=64,
            keepalive_s=KEEPALIVE_S,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def evaluate(self, request: PolicyRequest, *, use_cache: bool = True) -> PolicyVerdict:
        started = time.perf_counter()
        key = request.cache_key()
        fresh = await self._sync_epoch()
        epoch = self.cache.epoch
        cached = self.cache.get(key, time.monotonic()) if use_cache and fresh else None
        if cached is not None:
            DECISION_SECONDS.labels("cached").observe(time.perf_counter() - started)
            return cached
        verdict = await self._ask(request)
        # Keep it only if no relationship write was seen since the epoch read above.
        if verdict.constitution_hash and fresh and self.cache.epoch == epoch:
            self.cache.observe(key, verdict, time.monotonic())
        outcome = "allow" if verdict.allow else "deny"
        DECISION_SECONDS.labels(outcome).observe(time.perf_counter() - started)
        if not verdict.allow and self.settings.canary_for(request.tenant):
            return self._canary(request, verdict)
        return verdict

    async def _sync_epoch(self) -> bool:
        """Bring the cache up to the current epoch; False when it must not be used."""
        if self.epoch is None:
            return True
        return self.cache.sync_epoch(await self.epoch.current())

    async def _ask(self, request: PolicyRequest) -> PolicyVerdict:
        """One call to the engine in a client span whose context the request carries."""
        attributes = {
            "soma.policy.action": request.action,
            "soma.policy.resource": request.resource,
        }
        with span("policy evaluate", kind=SpanKind.CLIENT, attributes=attributes) as current:
            headers: dict[str, str] = {}
            inject(headers)
            verdict = await self._post(request, headers)
            current.set_attribute("soma.policy.allow", verdict.allow)
            if verdict.policy_version:
                current.set_attribute("soma.policy.version", verdict.policy_version)
            return verdict

    async def _post(self, request: PolicyRequest, headers: dict[str, str]) -> PolicyVerdict:
        try:
            resp = await self._http.post(
                self._url, content=request.model_dump_json(), headers=headers
            )
        except BackendError as exc:
            return _failed(str(exc))
        if resp.status != 200:
            return _failed(f"policy engine error {resp.status}: {resp.text[:200]}")
        try:
            return PolicyVerdict.model_validate_json(resp.body)
        except PydanticValidationError as exc:
            return _failed(f"policy engine sent a malformed verdict: {exc.errors()[0]['msg']}")

    def _canary(self, request: PolicyRequest, verdict: PolicyVerdict) -> PolicyVerdict:
        CANARY_WOULD_BLOCK.labels(request.tenant).inc()
        log.warning(
            "policy.canary.would_block",
            decision_id=verdict.decision_id,
            tenant_id=request.tenant,
            persona_id=request.persona,
            action=request.action,
            resource=request.resource,
            reasons=verdict.reasons,
            payload=request.payload,
            context=request.context,
            constitution_hash=verdict.constitution_hash,
        )
        return verdict.model_copy(update={"allow": True, "canary": True})


def _failed(reason: str) -> PolicyVerdict:
    """Fail-closed: the engine could not decide, so the answer is no."""
    log.warning("policy.engine.failed_closed", reason=reason)
    return PolicyVerdict(allow=False, reasons=[f"fail-closed: {reason}"], policy_version="")
