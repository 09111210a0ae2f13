"""The session context cache in Redis: one JSON value per session, with a TTL.

Keys are `<key_prefix><REDIS_SESSION_PREFIX><session_id>`; the configurable key_prefix
isolates tests and deployments that share one Redis. Redis failures surface as
BackendUnavailableError / BackendTimeoutError; callers fall back to PostgreSQL.
"""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from somaagent.domain.constants import REDIS_SESSION_PREFIX
from somaagent.domain.errors import BackendTimeoutError, BackendUnavailableError

DEFAULT_TTL_S: Final = 24 * 3600


class RedisSessionCache:
    """get/put/drop of serialised session state; no fallback logic lives here."""

    def __init__(
        self, client: aioredis.Redis, *, key_prefix: str = "", ttl_s: int = DEFAULT_TTL_S
    ) -> None:
        self._client = client
        self._prefix = key_prefix + REDIS_SESSION_PREFIX
        self._ttl = ttl_s

    def key(self, session_id: str) -> str:
        return self._prefix + session_id

    async def get(self, session_id: str) -> bytes | None:
        """The cached value, or None on a miss."""
        try:
            value = await self._client.get(self.key(session_id))
        except (RedisError, OSError) as exc:
            raise _translated(exc, "get") from exc
        return value.encode() if isinstance(value, str) else value

    async def put(self, session_id: str, value: bytes) -> None:
        try:
            await self._client.set(self.key(session_id), value, ex=self._ttl)
        except (RedisError, OSError) as exc:
            raise _translated(exc, "put") from exc

    async def drop(self, session_id: str) -> None:
        try:
            await self._client.delete(self.key(session_id))
        except (RedisError, OSError) as exc:
            raise _translated(exc, "drop") from exc


def _translated(exc: Exception, what: str) -> BackendUnavailableError | BackendTimeoutError:
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        return BackendTimeoutError(f"redis timed out: session cache {what}")
    return BackendUnavailableError(f"redis unavailable: session cache {what}: {exc}")


def session_cache_client(
    host: str, port: int, db: int = 0, timeout_s: float = 0.5
) -> aioredis.Redis:
    """A client whose connect and read timeouts are short enough to fall back quickly."""
    return aioredis.Redis(
        host=host,
        port=port,
        db=db,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
