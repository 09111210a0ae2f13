"""The relationship epoch in Redis: a counter every OpenFGA write bumps (PolicyEpochSource).

epoch = RedisPolicyEpoch(redis, key_prefix=settings.redis.key_prefix)
policy = HttpPolicyClient(settings.policy, epoch=epoch)      # drops cached allows on a move
fga = OpenFgaClient(settings.openfga, on_change=epoch.bump)  # moves it after each write
"""

from __future__ import annotations

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from somaagent.domain.constants import REDIS_POLICY_EPOCH

log = structlog.get_logger(__name__)


class RedisPolicyEpoch:
    def __init__(self, redis: aioredis.Redis, *, key_prefix: str = "") -> None:
        self.redis = redis
        self.key = key_prefix + REDIS_POLICY_EPOCH

    async def current(self) -> str | None:
        """The epoch now, or None when Redis cannot say (then nothing cached may be used)."""
        try:
            value = await self.redis.get(self.key)
        except RedisError as exc:
            log.warning("policy.epoch.unreadable", error=repr(exc))
            return None
        return value.decode() if isinstance(value, bytes) else str(value or 0)

    async def bump(self) -> None:
        """Call after a relationship write or delete has been acknowledged."""
        await self.redis.incr(self.key)
