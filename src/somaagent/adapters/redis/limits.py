"""Per-tenant request rate and concurrent-turn limits in Redis, shared by every gateway.

    limits = RedisTenantLimits(client, key_prefix="")
    verdict = await limits.admit(tenant, per_window=60, window_s=60)   # a request
    verdict = await limits.acquire(tenant, turn_id, limit=4, lease_s=330)  # a running turn
    await limits.release(tenant, turn_id)
    held = await limits.claim_once(name, turn_id, ttl_s=330)  # None, or the turn holding it
    await limits.unclaim(name, turn_id)

The rate limit is a fixed window per tenant: the first request opens a window of
`window_s` and counts; a request past `per_window` inside it is refused with the seconds
until the window closes. The concurrent-turn limit keeps one sorted set per tenant whose
members are running turns scored by their lease's end; a lease that was never released (a
gateway died) expires by itself. Both run as one Lua script each, on Redis's own clock,
so gateways on skewed clocks count alike. `claim_once` lets one request of a kind run at a
time (a resend of a question whose turn is still running is refused, not run twice). Redis
failures surface as BackendError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from somaagent.domain.errors import BackendTimeoutError, BackendUnavailableError

# Redis key prefixes of the limits (beside domain/constants.py's, which they extend).
REDIS_RATE_PREFIX: Final = "soma:limit:rate:"
REDIS_TURNS_PREFIX: Final = "soma:limit:turns:"
REDIS_ONCE_PREFIX: Final = "soma:limit:once:"

_RATE: Final = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""

_ACQUIRE: Final = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[2]) and not redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  return {0, n}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {1, redis.call('ZCARD', KEYS[1])}
"""


_CLAIM: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
"""

_UNCLAIM: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class LimitVerdict:
    """Whether a request may go on; when not, how long to wait (whole seconds, >= 1)."""

    allowed: bool
    count: int
    retry_after_s: int = 0


class RedisTenantLimits:
    def __init__(self, client: aioredis.Redis, *, key_prefix: str = "") -> None:
        self._client = client
        self._rate_prefix = key_prefix + REDIS_RATE_PREFIX
        self._turns_prefix = key_prefix + REDIS_TURNS_PREFIX
        self._once_prefix = key_prefix + REDIS_ONCE_PREFIX

    def turns_key(self, tenant_id: str) -> str:
        return self._turns_prefix + tenant_id

    async def admit(self, tenant_id: str, *, per_window: int, window_s: float) -> LimitVerdict:
        """Count one request of the tenant; refused past `per_window` in the window."""
        window_ms = max(1, round(window_s * 1000))
        count, ttl_ms = await self._eval(_RATE, self._rate_prefix + tenant_id, window_ms)
        if count <= per_window:
            return LimitVerdict(True, count)
        return LimitVerdict(False, count, max(1, math.ceil(ttl_ms / 1000)))

    async def acquire(
        self, tenant_id: str, turn_id: str, *, limit: int, lease_s: float
    ) -> LimitVerdict:
        """Hold one of the tenant's `limit` turn slots for `turn_id` (at most `lease_s`)."""
        lease_ms = max(1, round(lease_s * 1000))
        ok, count = await self._eval(_ACQUIRE, self.turns_key(tenant_id), lease_ms, limit, turn_id)
        return LimitVerdict(bool(ok), count)

    async def claim_once(self, name: str, turn_id: str, *, ttl_s: float) -> str | None:
        """Mark `name` as done by `turn_id` for `ttl_s`; None when claimed, else the turn
        that holds it (one request of a kind at a time, across gateways)."""
        key = self._once_prefix + name
        try:
            held = await self._client.eval(_CLAIM, 1, key, turn_id, max(1, round(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            raise _translated(exc, "claim") from exc
        return held.decode() if isinstance(held, bytes) else held

    async def unclaim(self, name: str, turn_id: str) -> None:
        """Drop the mark of `name` when `turn_id` still holds it."""
        try:
            await self._client.eval(_UNCLAIM, 1, self._once_prefix + name, turn_id)
        except (RedisError, OSError) as exc:
            raise _translated(exc, "unclaim") from exc

    async def release(self, tenant_id: str, turn_id: str) -> None:
        try:
            await self._client.zrem(self.turns_key(tenant_id), turn_id)
        except (RedisError, OSError) as exc:
            raise _translated(exc, "release") from exc

    async def running(self, tenant_id: str) -> int:
        """Turn slots the tenant holds now (expired leases included until the next acquire)."""
        try:
            return int(await self._client.zcard(self.turns_key(tenant_id)))
        except (RedisError, OSError) as exc:
            raise _translated(exc, "running") from exc

    async def _eval(self, script: str, key: str, *args: int | str) -> tuple[int, int]:
        try:
            result = await self._client.eval(script, 1, key, *args)
        except (RedisError, OSError) as exc:
            raise _translated(exc, "eval") from exc
        first, second = result
        return int(first), int(second)


def _translated(exc: Exception, what: str) -> BackendUnavailableError | BackendTimeoutError:
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        return BackendTimeoutError(f"redis timed out: tenant limits {what}")
    return BackendUnavailableError(f"redis unavailable: tenant limits {what}: {exc}")
