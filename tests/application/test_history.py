"""History manager against the real model server: /tokenize counts and a real summary."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from somaagent.adapters.llm.token_counter import LlamaTokenCounter
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.adapters.postgres.snapshots import PostgresSnapshotStore
from somaagent.adapters.redis.session_cache import RedisSessionCache
from somaagent.application.history import MESSAGE_OVERHEAD, HistoryManager
from somaagent.application.sessions import SessionRepository
from somaagent.devstack import Stack
from somaagent.domain.event_types import TURN_COMPLETED, make_event
from somaagent.domain.session_state import RecentTurn, SessionState, replay
from somaagent.domain.turns import ConversationTurn, Persona
from somaagent.settings import CommonSettings


@pytest.fixture
async def counter(stack: Stack, settings: CommonSettings) -> AsyncIterator[LlamaTokenCounter]:
    counter = LlamaTokenCounter(settings.llm.dialogue_url())
    yield counter
    await counter.aclose()


class ChatSummarizer:
    """A real summarizer on the dialogue model (until the model room ships its own)."""

    def __init__(self, base_url: str) -> None:
        self._url = base_url + "/chat/completions"

    async def summarize(
        self, previous: str | None, turns: Sequence[RecentTurn], *, max_tokens: int
    ) -> str:
        lines = [f"User: {t.user_message}\nAssistant: {t.assistant_message}" for t in turns]
        prompt = f"Summary so far: {previous or 'none'}\n\n" + "\n".join(lines)
        async with httpx.AsyncClient(timeout=60) as client:
            resp = await client.post(
                self._url,
                json={
                    "messages": [
                        {"role": "system", "content": "Summarise the dialogue in one sentence."},
                        {"role": "user", "content": prompt},
                    ],
                    "max_tokens": max_tokens,
                    "temperature": 0,
                },
            )
        resp.raise_for_status()
        return str(resp.json()["choices"][0]["message"]["content"])


@pytest.fixture
def repo(
    pg_pool: asyncpg.Pool, redis_client: aioredis.Redis, redis_prefix: str
) -> SessionRepository:
    cache = RedisSessionCache(redis_client, key_prefix=redis_prefix)
    return SessionRepository(PostgresEventStore(pg_pool), PostgresSnapshotStore(pg_pool), cache)


COLOURS = ["red", "yellow", "green", "blue", "orange"]


def completed(sid: str, n: int) -> ConversationTurn:
    return ConversationTurn(
        correlation_id=f"c{n}",
        session_id=sid,
        tenant_id="t-1",
        user_message=f"Name a fruit that is {COLOURS[n]}.",
        assistant_message=["Apple.", "Banana.", "Lime.", "Blueberry.", "Orange."][n],
    )


def long_state(turns: int) -> SessionState:
    recent = [
        RecentTurn(
            seq=i + 1,
            correlation_id=f"c{i}",
            user_message=f"Question {i}: what is the capital of country number {i}? " * 3,
            assistant_message=f"Answer {i}: Grüße, the capital is city {i} 🏙️. " * 4,
        )
        for i in range(turns)
    ]
    return SessionState(
        session_id="s", tenant_id="t", version=turns, turn_count=turns, recent_turns=recent
    )


async def test_counts_are_the_model_tokenizers(counter: LlamaTokenCounter) -> None:
    counts = await counter.count(["Hello world", "", "Hello world, Grüße 👋"])
    assert counts[0] == 2 and counts[1] == 0
    assert counts[2] > counts[0]


@pytest.mark.parametrize("budget", [120, 400, 900])
async def test_truncation_respects_the_budget(counter: LlamaTokenCounter, budget: int) -> None:
    state = long_state(12)
    fitted = await HistoryManager(counter).context(state, Persona(), budget=budget)
    recount = await counter.count([m.content for m in fitted.messages])
    total = sum(recount) + MESSAGE_OVERHEAD * len(recount)
    assert total == fitted.tokens <= budget
    assert fitted.messages[0].role == "system"
    history = state.messages()
    kept = fitted.messages[1:]
    assert kept == history[fitted.dropped :]
    assert not kept or (kept[0].role == "user" and kept[-1] == history[-1])
    # the next older question-and-answer pair would not have fitted
    older = await counter.count([m.content for m in history[fitted.dropped - 2 : fitted.dropped]])
    assert total + sum(older) + 2 * MESSAGE_OVERHEAD > budget


async def test_a_tiny_budget_keeps_only_the_system_prompt(counter: LlamaTokenCounter) -> None:
    fitted = await HistoryManager(counter).context(long_state(3), Persona(), budget=60)
    assert [m.role for m in fitted.messages] == ["system"]
    assert fitted.dropped == 6


async def test_summary_from_the_real_model_is_an_event_that_replay_reproduces(
    counter: LlamaTokenCounter,
    settings: CommonSettings,
    pg_pool: asyncpg.Pool,
    repo: SessionRepository,
    unique: Callable[[str], str],
) -> None:
    sid = unique("s")
    state: SessionState | None = None
    for n in range(5):
        event = make_event(TURN_COMPLETED, completed(sid, n), session_id=sid, tenant_id="t-1")
        state = await repo.commit(state, [event])
    assert state is not None
    manager = HistoryManager(
        counter,
        ChatSummarizer(settings.llm.dialogue_url()),
        keep_last=2,
        summarize_batch=3,
        summary_max_tokens=24,
    )
    summary = await manager.summarize_if_due(state, model="dialogue")
    assert summary is not None
    state = await repo.commit(state, [summary])
    assert state.summary and state.summary_through_seq == 3
    assert await manager.summarize_if_due(state) is None
    assert replay(await PostgresEventStore(pg_pool).read_session(sid)) == state
    fitted = await manager.context(state, Persona(), budget=4096)
    assert state.summary in fitted.messages[0].content
