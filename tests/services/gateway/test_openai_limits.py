"""Per-tenant limits of the OpenAI API on the real Redis: the limiter itself, then the 429s
(with Retry-After) a gateway answers. The gateway here has no worker behind its fresh
topics, so a turn it starts stays running until its timeout: a real turn in flight."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from services.gateway.conftest import RunningGateway, start_gateway, stop_gateway
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.redis.limits import RedisTenantLimits
from somaagent.devstack.kafka import ensure_topics
from somaagent.services.gateway import GatewaySection, GatewaySettings
from somaagent.services.gateway.openai_sessions import resend_mark
from somaagent.services.gateway.settings import OpenAiSection
from somaagent.settings import CommonSettings

MODEL = "dialogue-qwen-1.5b"  # the shipped default dialogue profile


async def test_the_rate_window_counts_and_tells_when_it_reopens(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    limits = RedisTenantLimits(redis_client, key_prefix=redis_prefix)
    verdicts = [await limits.admit("t1", per_window=2, window_s=1.5) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert verdicts[2].count == 3 and verdicts[2].retry_after_s in (1, 2)
    assert (await limits.admit("t2", per_window=2, window_s=1.5)).allowed  # per tenant
    await asyncio.sleep(1.6)
    assert (await limits.admit("t1", per_window=2, window_s=1.5)).allowed


async def test_turn_slots_are_held_released_and_expire(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    limits = RedisTenantLimits(redis_client, key_prefix=redis_prefix)
    assert (await limits.acquire("t", "a", limit=2, lease_s=30)).allowed
    assert (await limits.acquire("t", "b", limit=2, lease_s=0.2)).allowed
    refused = await limits.acquire("t", "c", limit=2, lease_s=30)
    assert (refused.allowed, refused.count) == (False, 2)
    await asyncio.sleep(0.3)  # b's lease ran out (its gateway never released it)
    assert (await limits.acquire("t", "c", limit=2, lease_s=30)).allowed
    assert not (await limits.acquire("t", "d", limit=2, lease_s=30)).allowed
    await limits.release("t", "a")
    assert (await limits.acquire("t", "d", limit=2, lease_s=30)).allowed
    assert await limits.running("t") == 2


async def test_a_claim_is_held_once_and_dropped_only_by_its_holder(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    limits = RedisTenantLimits(redis_client, key_prefix=redis_prefix)
    assert await limits.claim_once("s:1", "turn-a", ttl_s=30) is None
    assert await limits.claim_once("s:1", "turn-b", ttl_s=30) == "turn-a"
    await limits.unclaim("s:1", "turn-b")  # not the holder: nothing changes
    assert await limits.claim_once("s:1", "turn-c", ttl_s=30) == "turn-a"
    await limits.unclaim("s:1", "turn-a")
    assert await limits.claim_once("s:1", "turn-c", ttl_s=0.2) is None
    await asyncio.sleep(0.3)  # its holder never dropped it: it expires
    assert await limits.claim_once("s:1", "turn-d", ttl_s=30) is None


@pytest.fixture(scope="module")
async def limited(
    settings: CommonSettings, migrated: str, seeded_profiles: None
) -> AsyncIterator[RunningGateway]:
    """A gateway allowing 2 requests per minute and 1 running turn per tenant."""
    run = uuid.uuid4().hex[:8]
    inbound, outbound = f"test.oai-limits.{run}.inbound", f"test.oai-limits.{run}.outbound"
    await ensure_topics(settings.kafka.bootstrap, [inbound, outbound], 2)
    gw = await start_gateway(
        GatewaySettings(
            kafka=settings.kafka,
            postgres=settings.postgres,
            redis=settings.redis,
            gateway=GatewaySection(inbound_topic=inbound, outbound_topic=outbound),
            openai=OpenAiSection(
                requests_per_window=2, window_s=60, concurrent_turns=1, turn_timeout_s=3
            ),
        )
    )
    yield gw
    await stop_gateway(gw)


def ask(text: str, *, stream: bool = False) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": stream}


async def test_a_busy_tenant_and_a_spent_rate_get_429_with_retry_after(
    limited: RunningGateway, keys: ApiKeyStore, redis_client: aioredis.Redis
) -> None:
    tenant = f"limits-{uuid.uuid4().hex[:10]}"
    key, _ = await keys.create(tenant, "user", "alice")
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=limited.base_url, headers=auth, timeout=20) as http:
        async with http.stream(
            "POST", "/v1/chat/completions", json=ask("hi", stream=True)
        ) as first:
            assert first.status_code == 200
            lines = first.aiter_lines()
            assert (await anext(lines)).startswith("data: ")  # the role chunk: turn running
            busy = await http.post("/v1/chat/completions", json=ask("and you?"))
            assert busy.status_code == 429 and busy.headers["retry-after"] == "2"
            assert busy.json()["error"]["code"] == "too_many_concurrent_turns"
            assert busy.json()["error"]["type"] == "rate_limit_error"
            rest = [line async for line in lines if line.startswith("data: ")]
        # nobody answers this turn: it ends at its 3 s bound with an error chunk
        assert orjson.loads(rest[-1][6:])["error"]["code"] == "turn_timeout"
        spent = await http.post("/v1/chat/completions", json=ask("third"))
        assert spent.status_code == 429 and spent.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(spent.headers["retry-after"]) <= 60
    limits = RedisTenantLimits(redis_client, key_prefix=limited.settings.redis.key_prefix)
    assert await limits.running(tenant) == 0  # the timed-out turn gave its slot back


async def test_the_same_request_again_while_its_turn_runs_is_409_not_a_second_turn(
    limited: RunningGateway, keys: ApiKeyStore, redis_client: aioredis.Redis
) -> None:
    key, _ = await keys.create(f"resend-{uuid.uuid4().hex[:10]}", "user", "alice")
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=limited.base_url, headers=auth, timeout=20) as http:
        sid = (await http.post("/v1/sessions", json={})).json()["session_id"]
        auth["X-Soma-Session"] = sid
        body = ask("hi", stream=True)
        async with http.stream("POST", "/v1/chat/completions", json=body, headers=auth) as first:
            lines = first.aiter_lines()
            assert (await anext(lines)).startswith("data: ")
            again = await http.post("/v1/chat/completions", json=ask("hi"), headers=auth)
            assert again.status_code == 409 and again.headers["retry-after"] == "2"
            error = again.json()["error"]
            assert error["code"] == "turn_in_progress"
            assert first.headers["x-soma-turn"] in error["message"]
            assert [line async for line in lines if line.startswith("data: ")]
    limits = RedisTenantLimits(redis_client, key_prefix=limited.settings.redis.key_prefix)
    mark = resend_mark(sid, ["hi"])
    assert await limits.claim_once(mark, "probe", ttl_s=5) is None  # the mark was dropped
    await limits.unclaim(mark, "probe")


async def test_a_client_that_goes_away_gives_its_turn_slot_back(
    limited: RunningGateway, keys: ApiKeyStore, redis_client: aioredis.Redis
) -> None:
    tenant = f"gone-{uuid.uuid4().hex[:10]}"
    key, _ = await keys.create(tenant, "user", "alice")
    limits = RedisTenantLimits(redis_client, key_prefix=limited.settings.redis.key_prefix)
    auth = {"Authorization": f"Bearer {key}"}
    body = ask("hi", stream=True)
    async with (
        httpx.AsyncClient(base_url=limited.base_url, headers=auth, timeout=20) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as answer,
    ):
        lines = answer.aiter_lines()
        assert (await anext(lines)).startswith("data: ")
        await asyncio.sleep(0.3)
        assert await limits.running(tenant) == 1  # held while the client reads
    # the connection is closed while the turn runs (its 3 s bound is far off)
    released = False
    for _ in range(40):
        released = await limits.running(tenant) == 0
        if released:
            break
        await asyncio.sleep(0.05)
    assert released
