"""Building the worker's real dependencies from settings (and closing them again)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import structlog

from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.llm import chain_model
from somaagent.adapters.llm.token_counter import LlamaTokenCounter
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.personas import FilePersonaCatalog
from somaagent.adapters.postgres.driver_errors import transaction
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.adapters.postgres.pool import open_pool
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.adapters.postgres.snapshots import PostgresSnapshotStore
from somaagent.adapters.postgres.turn_state import PostgresTurnStates
from somaagent.adapters.redis.mcp_catalogue import RedisMcpCatalogue
from somaagent.adapters.redis.policy_epoch import RedisPolicyEpoch
from somaagent.adapters.redis.session_cache import RedisSessionCache, session_cache_client
from somaagent.application.agent_loop import ToolSpec
from somaagent.application.conversation.persist import TurnPersister
from somaagent.application.conversation.prepare import TurnPreparer
from somaagent.application.conversation.runner import TurnRunner, TurnSettings
from somaagent.application.conversation.summarizer import LlmSummarizer
from somaagent.application.history import HistoryManager
from somaagent.application.model_profiles import select
from somaagent.application.policy.client import HttpPolicyClient
from somaagent.application.policy.gate import PolicyGate
from somaagent.application.policy.requeue import RequeueService
from somaagent.application.policy.retry import RequeueRetryJob
from somaagent.application.sessions import SessionRepository
from somaagent.application.slm import SlmPipeline, artefact_root, load
from somaagent.domain.events import Envelope
from somaagent.domain.llm import ChatModel, ModelRole
from somaagent.domain.policy import PolicyVerdict
from somaagent.domain.tools import ToolCall
from somaagent.services.conversation_worker.mcp_catalog import McpToolCatalog
from somaagent.services.conversation_worker.metrics import MeteredChatModel
from somaagent.services.conversation_worker.settings import WorkerSettings, WorkerTopics
from somaagent.settings import LlmSettings, repo_root
from somaagent.tools.code_execution import CodeExecution
from somaagent.tools.memory import MemoryLoad, MemorySave
from somaagent.tools.web_search import WebSearch

log = structlog.get_logger(__name__)

#: The tool classes whose schemas the model may see (the executor runs them).
TOOL_CLASSES: tuple[Any, ...] = (CodeExecution, WebSearch, MemorySave, MemoryLoad)
PROFILE_TTL_S = 10.0


class ToolClassCatalog:
    def __init__(self, classes: Iterable[Any]) -> None:
        self._specs = {
            c.name: ToolSpec(c.name, c.description, c.arguments.model_json_schema())
            for c in classes
        }

    def specs(self, names: list[str]) -> list[ToolSpec]:
        return [self._specs[n] for n in names if n in self._specs]


class ProfileModels:
    """The model profiles in Postgres as ChatModels with their fallback chains."""

    def __init__(
        self, store: PostgresModelProfileStore, http: httpx.AsyncClient, llm: LlmSettings
    ) -> None:
        self._store = store
        self._http = http
        self._llm = llm
        self._cache: dict[tuple[str, str, str | None], tuple[float, ChatModel]] = {}

    async def for_role(
        self, tenant_id: str, role: ModelRole, requested: str | None = None
    ) -> ChatModel:
        key = (tenant_id, role, requested)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        profiles = await select(self._store, tenant_id, role, requested)
        chain = chain_model(profiles, self._http, self._llm)
        model = MeteredChatModel(chain)
        self._cache[key] = (time.monotonic() + PROFILE_TTL_S, model)
        return model

    async def dialogue(self, tenant_id: str, requested: str | None = None) -> ChatModel:
        return await self.for_role(tenant_id, "dialogue", requested)


class ToolRequestGate:
    """The worker's ToolGate port on the policy room's PolicyGate (action tool.request)."""

    def __init__(self, gate: PolicyGate) -> None:
        self._gate = gate

    async def check_tool_request(
        self, call: ToolCall, envelope: Envelope, topic: str
    ) -> PolicyVerdict:
        if topic != self._gate.tool_topic:
            raise ValueError(f"the gate requeues for {self._gate.tool_topic}, not {topic}")
        return (await self._gate.guard_tool(call, envelope=envelope)).verdict


class _SummarizerModel:
    """The summarizer profile, resolved lazily (the store may be seeded after start)."""

    def __init__(self, models: ProfileModels) -> None:
        self._models = models

    async def summarize(self, previous: Any, turns: Any, *, max_tokens: int) -> str:
        model = await self._models.for_role("*", "summarizer")
        return await LlmSummarizer(model).summarize(previous, turns, max_tokens=max_tokens)


@dataclass
class Wiring:
    runner: TurnRunner
    bus: KafkaEventBus
    retry: RequeueRetryJob


@asynccontextmanager
async def wired(settings: WorkerSettings, topics: WorkerTopics) -> AsyncIterator[Wiring]:
    """Every real client the worker needs, closed in reverse order on exit."""
    async with AsyncExitStack() as stack:
        pool = await open_pool(settings.postgres)
        stack.push_async_callback(pool.close)
        bus = await stack.enter_async_context(KafkaEventBus(settings.kafka))
        http = await stack.enter_async_context(httpx.AsyncClient())
        redis = session_cache_client(settings.redis.host, settings.redis.port, settings.redis.db)
        stack.push_async_callback(redis.aclose)
        embed = await stack.enter_async_context(
            EmbeddingClient(settings.embedding.url(), settings.embedding.timeout_s)
        )
        epoch = RedisPolicyEpoch(redis, key_prefix=settings.redis.key_prefix)
        policy = await stack.enter_async_context(HttpPolicyClient(settings.policy, epoch=epoch))
        fga = await stack.enter_async_context(OpenFgaClient(settings.openfga, on_change=epoch.bump))
        store = PostgresRequeueStore(pool, redis, key_prefix=settings.redis.key_prefix)
        tools = McpToolCatalog(
            ToolClassCatalog(TOOL_CLASSES),
            RedisMcpCatalogue(redis, key_prefix=settings.redis.key_prefix),
        )
        stack.push_async_callback(tools.aclose)
        runner = build_runner(
            settings,
            topics=topics,
            pool=pool,
            bus=bus,
            http=http,
            redis=redis,
            embed=embed,
            policy=policy,
            requeue=store,
            tools=tools,
        )
        retry = RequeueRetryJob(
            RequeueService(store, policy, bus, fga),
            store,
            redis,
            key_prefix=settings.redis.key_prefix,
        )
        yield Wiring(runner=runner, bus=bus, retry=retry)


def build_runner(
    settings: WorkerSettings,
    *,
    topics: WorkerTopics,
    pool: asyncpg.Pool,
    bus: KafkaEventBus,
    http: httpx.AsyncClient,
    redis: Any,
    embed: EmbeddingClient,
    policy: HttpPolicyClient,
    requeue: PostgresRequeueStore,
    tools: McpToolCatalog,
) -> TurnRunner:
    w = settings.worker
    models = ProfileModels(PostgresModelProfileStore(pool), http, settings.llm)
    sessions = SessionRepository(
        PostgresEventStore(pool),
        PostgresSnapshotStore(pool),
        RedisSessionCache(redis, key_prefix=settings.redis.key_prefix),
    )
    counter = LlamaTokenCounter(settings.llm.dialogue_url(), client=http)
    history = HistoryManager(counter, _SummarizerModel(models))
    personas = FilePersonaCatalog(repo_root() / "personas")
    slm = SlmPipeline(
        load(artefact_root(settings.cache_dir), w.persona), embed, w.slm_embed_timeout_s
    )
    turns = PostgresTurnStates(pool)

    @asynccontextmanager
    async def turn_transaction() -> AsyncIterator[Any]:
        async with transaction(pool, "turn transaction") as conn:
            yield conn

    return TurnRunner(
        bus=bus,
        turns=turns,
        preparer=TurnPreparer(
            sessions=sessions,
            history=history,
            preprocessor=slm,
            personas=personas,
            budget_tokens=w.history_budget_tokens,
        ),
        persister=TurnPersister(
            transactions=turn_transaction, sessions=sessions, turns=turns, history=history
        ),
        models=models,
        tools=tools,
        personas=personas,
        gate=ToolRequestGate(
            PolicyGate(
                policy,
                bus,
                requeue,
                tool_topic=topics.tool_requests,
            )
        ),
        settings=TurnSettings(
            answer_max_tokens=w.answer_max_tokens,
            decision_max_tokens=w.decision_max_tokens,
            grounded_max_tokens=w.grounded_max_tokens,
            tool_timeout_s=w.tool_timeout_s,
            policy_wait_s=w.policy_wait_s,
            tool_requests_topic=topics.tool_requests,
            outbound_topic=topics.outbound,
        ),
    )
