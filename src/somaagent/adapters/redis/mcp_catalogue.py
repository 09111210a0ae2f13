"""The MCP catalogue in Redis: the executor writes it, the worker and `soma mcp list` read it.

Why Redis: the schemas come from the running servers, which only the executor talks to. The
executor writes one JSON document (servers with state, tools, problems and last error; every
offered tool with its input schema) on each catalogue change and every `publish_s`, with a
TTL of a few periods, so the catalogue disappears when no executor is alive to run the tools.
Executors with the same servers file write the same document; the last write wins.
"""

from __future__ import annotations

import time
from typing import Any, Final

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from somaagent.domain.constants import REDIS_MCP_CATALOGUE

log = structlog.get_logger(__name__)

TTL_PERIODS: Final = 6


class RedisMcpCatalogue:
    def __init__(self, redis: aioredis.Redis, *, key_prefix: str = "") -> None:
        self.redis = redis
        self.key = key_prefix + REDIS_MCP_CATALOGUE

    async def write(self, document: dict[str, Any], publish_s: float) -> None:
        body = orjson.dumps({**document, "published_at": time.time()})
        await self.redis.set(self.key, body, ex=max(1, int(publish_s * TTL_PERIODS)))

    async def read(self) -> dict[str, Any] | None:
        """The document, or None when no executor published one (or Redis cannot say)."""
        try:
            raw = await self.redis.get(self.key)
        except RedisError as exc:
            log.warning("mcp.catalogue.unreadable", error=repr(exc))
            return None
        if raw is None:
            return None
        value = orjson.loads(raw)
        return value if isinstance(value, dict) else None
