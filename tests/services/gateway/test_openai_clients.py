"""The OpenAI-compatible API with real clients on the real platform.

A gateway, a conversation worker and a tool executor run in-process on fresh topics and this
run's schema, over the shared Kafka, PostgreSQL, Redis, OPA and model servers. The official
`openai` Python SDK and the official `openai` npm package (node's test runner, tests/node)
talk to it; what they were answered is checked against the turns in the event store.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import openai
import orjson
import pytest

from services.gateway.conftest import RunningGateway
from services.platform import running_platform
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.application import model_profiles
from somaagent.domain.llm import ModelProfile, ProfileOverride
from somaagent.settings import CommonSettings, repo_root

NODE_DIR = repo_root() / "tests" / "node"
SMALL = "dialogue-qwen-0.5b"


@pytest.fixture(scope="module")
async def platform(
    settings: CommonSettings, migrated: str, policy_url: str, seeded_profiles: None
) -> AsyncIterator[RunningGateway]:
    """A gateway with a conversation worker and a tool executor behind it."""
    async with running_platform(settings, policy_url, name="oai", answer_max_tokens=32) as gw:
        yield gw


@dataclass(frozen=True)
class User:
    tenant_id: str
    key: str


async def new_user(keys: ApiKeyStore, name: str) -> User:
    """A fresh tenant and a user key of it, as `soma keys create` makes one."""
    tenant = f"{name}-{uuid.uuid4().hex[:10]}"
    key, _ = await keys.create(tenant, "user", "alice")
    return User(tenant, key)


async def small_model_user(keys: ApiKeyStore, pg_pool: asyncpg.Pool) -> User:
    """A tenant whose dialogue profile is the 0.5B (an override, as `soma models override`)."""
    user = await new_user(keys, "oai")
    override = ProfileOverride(tenant_id=user.tenant_id, role="dialogue", profile=SMALL)
    await PostgresModelProfileStore(pg_pool).set_override(override)
    return user


Connect = Callable[..., openai.AsyncOpenAI]


@pytest.fixture
async def connect(platform: RunningGateway) -> AsyncIterator[Connect]:
    """OpenAI SDK clients of the platform (no retries), closed after the test."""
    made: list[openai.AsyncOpenAI] = []

    def make(key: str, **headers: str) -> openai.AsyncOpenAI:
        sdk = openai.AsyncOpenAI(
            base_url=f"{platform.base_url}/v1",
            api_key=key,
            max_retries=0,
            timeout=240,
            default_headers=headers or None,
        )
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        await sdk.close()


async def stored_turns(pg_pool: asyncpg.Pool, session_id: str) -> list[dict[str, Any]]:
    rows = await pg_pool.fetch(
        "SELECT body FROM events WHERE session_id = $1 AND type = 'conversation.turn.completed'"
        " ORDER BY seq",
        session_id,
    )
    return [orjson.loads(r["body"])["payload"] for r in rows]


async def messages_received(pg_pool: asyncpg.Pool, session_id: str) -> int:
    count = await pg_pool.fetchval(
        "SELECT count(*) FROM events WHERE session_id = $1"
        " AND type = 'conversation.message.received'",
        session_id,
    )
    return int(count)


async def test_a_whole_answer_its_usage_and_a_session_that_resends_do_not_duplicate(
    connect: Connect, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    tenant = await small_model_user(keys, pg_pool)
    sdk = connect(tenant.key)
    ask = [{"role": "user", "content": "Name one colour."}]
    raw = await sdk.chat.completions.with_raw_response.create(model=SMALL, messages=ask)
    sid, turn = raw.headers["x-soma-session"], raw.headers["x-soma-turn"]
    first = raw.parse()
    (stored,) = await stored_turns(pg_pool, sid)
    assert stored["correlation_id"] == turn and first.id == f"chatcmpl-{turn}"
    assert first.choices[0].message.content == stored["assistant_message"]
    assert first.choices[0].message.content.strip()
    assert first.model == stored["model_profile"] == SMALL
    assert first.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (
        stored["usage"]["prompt_tokens"],
        stored["usage"]["completion_tokens"],
    )
    assert first.usage.completion_tokens > 0

    in_session = connect(tenant.key, **{"X-Soma-Session": sid})
    again = await in_session.chat.completions.with_raw_response.create(model=SMALL, messages=ask)
    assert again.headers["x-soma-turn"] == turn
    assert again.parse().choices[0].message.content == first.choices[0].message.content
    streamed = await in_session.chat.completions.create(
        model=SMALL, messages=ask, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in streamed]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        first.choices[0].message.content
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == (
        first.usage.total_tokens
    )
    assert await messages_received(pg_pool, sid) == 1

    follow = [
        *ask,
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "Name another one."},
    ]
    second = await in_session.chat.completions.create(model=SMALL, messages=follow)
    turns = await stored_turns(pg_pool, sid)
    assert [t["user_message"] for t in turns] == ["Name one colour.", "Name another one."]
    assert second.choices[0].message.content == turns[1]["assistant_message"]
    assert await messages_received(pg_pool, sid) == 2


async def test_a_streamed_answer_is_the_turns_text_in_openai_chunks(
    connect: Connect, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    tenant = await small_model_user(keys, pg_pool)
    sdk = connect(tenant.key)
    raw = await sdk.chat.completions.with_raw_response.create(
        model=SMALL,
        messages=[{"role": "user", "content": "Say hello in five words."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    sid = raw.headers["x-soma-session"]
    pieces, finish, usage = [], [], None
    async for chunk in raw.parse():
        usage = chunk.usage or usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish.append(choice.finish_reason)
    (stored,) = await stored_turns(pg_pool, sid)
    assert "".join(pieces) == stored["assistant_message"] and stored["assistant_message"]
    assert len([p for p in pieces if p]) > 1  # streamed, not sent whole
    assert [f for f in finish if f] == ["stop"]
    assert usage is not None and usage.completion_tokens == stored["usage"]["completion_tokens"]


async def test_a_tool_runs_server_side_and_its_result_is_in_the_content(
    connect: Connect, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    tenant = await new_user(keys, "tool")
    sdk = connect(tenant.key)
    chain = await model_profiles.select(
        PostgresModelProfileStore(pg_pool), tenant.tenant_id, "dialogue"
    )
    raw = await sdk.chat.completions.with_raw_response.create(
        model=chain[0].name,
        messages=[{"role": "user", "content": "use python to compute 17*23"}],
    )
    content = raw.parse().choices[0].message.content or ""
    (stored,) = await stored_turns(pg_pool, raw.headers["x-soma-session"])
    assert [r["tool"] for r in stored["tool_results"]] == ["code_execution"]
    assert stored["tool_results"][0]["stdout"].strip() == "391"
    assert content.startswith("> tool code_execution (ok,")
    assert re.search(r"^> 391$", content, re.MULTILINE), content
    assert content.endswith(stored["assistant_message"])


async def test_the_model_field_picks_the_profile_that_answers(
    connect: Connect, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    """The tenant's own profile is the 0.5B; a request naming SmolLM2 runs on SmolLM2, and
    the next one without a choice of its own is back on the tenant's profile."""
    tenant = await small_model_user(keys, pg_pool)
    sdk = connect(tenant.key)
    hi = [{"role": "user", "content": "Say OK."}]
    raw = await sdk.chat.completions.with_raw_response.create(
        model="dialogue-smollm2-135m", messages=hi, max_tokens=8
    )
    assert raw.parse().model == "dialogue-smollm2-135m"
    (turn,) = await stored_turns(pg_pool, raw.headers["x-soma-session"])
    assert turn["model_profile"] == "dialogue-smollm2-135m"
    own = await sdk.chat.completions.with_raw_response.create(model=SMALL, messages=hi)
    (turn,) = await stored_turns(pg_pool, own.headers["x-soma-session"])
    assert turn["model_profile"] == SMALL


async def test_refusals_have_openais_error_shape(
    connect: Connect, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    tenant = await small_model_user(keys, pg_pool)
    hi = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.AuthenticationError) as bad_key:
        await connect("sk-nope").chat.completions.create(model=SMALL, messages=hi)
    assert bad_key.value.status_code == 401 and bad_key.value.code == "invalid_api_key"
    sdk = connect(tenant.key)
    with pytest.raises(openai.NotFoundError) as bad_model:
        await sdk.chat.completions.create(model="gpt-4o", messages=hi)
    assert bad_model.value.code == "model_not_found" and bad_model.value.param == "model"
    with pytest.raises(openai.BadRequestError) as bad_request:
        await sdk.chat.completions.create(
            model=SMALL, messages=[*hi, {"role": "assistant", "content": "hello"}]
        )
    assert bad_request.value.param == "messages[1].role"
    listed = {m.id: m for m in (await sdk.models.list()).data}
    assert SMALL in listed and listed[SMALL].owned_by == "somaagent"
    made = await sdk.chat.completions.with_raw_response.create(model=SMALL, messages=hi)
    sid = made.headers["x-soma-session"]
    owner = await pg_pool.fetchval("SELECT owner FROM sessions WHERE session_id = $1", sid)
    assert owner == "alice"  # the key's subject owns the session the API made
    bob, _ = await keys.create(tenant.tenant_id, "user", "bob")
    with pytest.raises(openai.NotFoundError) as not_his:  # same tenant, another user
        await connect(bob, **{"X-Soma-Session": sid}).chat.completions.create(
            model=SMALL, messages=hi
        )
    assert not_his.value.code == "session_not_found"
    unknown = connect(tenant.key, **{"X-Soma-Session": "no-such"})
    with pytest.raises(openai.NotFoundError) as no_session:
        await unknown.chat.completions.create(model=SMALL, messages=hi)
    assert no_session.value.code == "session_not_found"


async def test_a_model_that_is_down_is_a_503_before_any_turn(
    connect: Connect, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    tenant = await new_user(keys, "down")
    name = f"dialogue-down-{uuid.uuid4().hex[:8]}"
    store = PostgresModelProfileStore(pg_pool)
    # a real address where no server listens: the discard port of this host
    down = ModelProfile(name=name, role="dialogue", base_url="http://127.0.0.1:9/v1", model="none")
    await store.upsert_profiles([down])
    await store.set_override(
        ProfileOverride(tenant_id=tenant.tenant_id, role="dialogue", profile=name)
    )
    with pytest.raises(openai.InternalServerError) as down_error:
        await connect(tenant.key).chat.completions.create(
            model=name, messages=[{"role": "user", "content": "hi"}]
        )
    assert down_error.value.status_code == 503 and down_error.value.code == "model_unavailable"
    assert down_error.value.response.headers["retry-after"] == "5"
    sessions = await pg_pool.fetchval(
        "SELECT count(*) FROM sessions WHERE tenant_id = $1", tenant.tenant_id
    )
    assert sessions == 0


async def test_the_official_npm_client_under_nodes_test_runner(
    platform: RunningGateway, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed (scripts/setup.sh installs it)"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run `npm ci` in tests/node"
    tenant = await small_model_user(keys, pg_pool)
    env = {
        **os.environ,
        "SOMA_OPENAI_BASE_URL": f"{platform.base_url}/v1",
        "SOMA_API_KEY": tenant.key,
        "SOMA_MODEL": SMALL,
    }
    proc = await asyncio.create_subprocess_exec(
        node,
        "--test",
        "openai_client.test.mjs",
        cwd=NODE_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(proc.communicate(), 280))[0].decode()
    assert proc.returncode == 0, output
    assert re.search(r"^# pass 5$", output, re.MULTILINE), output
    rows = await pg_pool.fetch(
        "SELECT body FROM events WHERE tenant_id = $1 AND type = 'conversation.turn.completed'",
        tenant.tenant_id,
    )
    turns = [orjson.loads(r["body"])["payload"] for r in rows]
    assert sorted(t["user_message"] for t in turns) == [
        "Name one colour.",
        "Say hello in one word.",
    ]
    assert {t["model_profile"] for t in turns} == {SMALL}
