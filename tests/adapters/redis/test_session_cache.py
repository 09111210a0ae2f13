"""The Redis session cache: prefixed keys with a TTL, and a clear error when unreachable."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from somaagent.adapters.redis.session_cache import RedisSessionCache, session_cache_client
from somaagent.domain.errors import BackendUnavailableError


async def test_values_round_trip_under_the_prefix_with_a_ttl(
    redis_client: aioredis.Redis, redis_prefix: str, unique: Callable[[str], str]
) -> None:
    cache = RedisSessionCache(redis_client, key_prefix=redis_prefix, ttl_s=60)
    sid = unique("s")
    assert await cache.get(sid) is None
    await cache.put(sid, '{"ü": 1}'.encode())
    assert await cache.get(sid) == '{"ü": 1}'.encode()
    key = f"{redis_prefix}soma:session:{sid}"
    assert 0 < await redis_client.ttl(key) <= 60
    await cache.drop(sid)
    assert await redis_client.exists(key) == 0


async def test_unreachable_redis_is_a_backend_unavailable_error(
    unique: Callable[[str], str],
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = session_cache_client("127.0.0.1", port, timeout_s=0.2)
    cache = RedisSessionCache(client)
    with pytest.raises(BackendUnavailableError) as err:
        await cache.get(unique("s"))
    assert err.value.retriable
    await client.aclose()
