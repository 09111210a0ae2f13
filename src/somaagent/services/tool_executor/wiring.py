"""Build the executor's tool registry from settings: sandbox per tool, stores, backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg

from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.adapters.postgres.attachments import PostgresAttachmentStore
from somaagent.adapters.postgres.memories import PostgresMemoryStore
from somaagent.adapters.postgres.search_index import PostgresSearchIndex
from somaagent.adapters.sandbox import BwrapSandbox, DockerSandbox, GvisorSandbox
from somaagent.application.policy.gate import PolicyGate
from somaagent.domain.tools import SandboxBackend, SearchBackend, ToolSandbox
from somaagent.services.tool_executor.mcp import attach_mcp
from somaagent.services.tool_executor.metrics import MeteredSandbox
from somaagent.services.tool_executor.settings import ToolExecutorSettings
from somaagent.tools import CodeExecution, ToolRegistry, Workspaces
from somaagent.tools.document_query import DocumentQuery
from somaagent.tools.http_fetch import HttpFetch, load_allowed_domains
from somaagent.tools.memory import MemoryLoad, MemorySave
from somaagent.tools.web_search import SearxngSearch, WebSearch


def make_sandbox(backend: SandboxBackend, settings: ToolExecutorSettings) -> ToolSandbox:
    """The sandbox for a backend name; InfraError when this host cannot provide it."""
    if backend == "gvisor":
        base = settings.state_dir / "gvisor"
        base.mkdir(parents=True, exist_ok=True)
        return GvisorSandbox(base)
    if backend == "docker":
        return DockerSandbox(settings.tools.docker_image)
    return BwrapSandbox()


@asynccontextmanager
async def build_registry(
    settings: ToolExecutorSettings, pool: asyncpg.Pool, gate: PolicyGate
) -> AsyncIterator[ToolRegistry]:
    section = settings.tools
    workspaces = Workspaces(settings.workspace_root())
    async with AsyncExitStack() as stack:
        search: SearchBackend = PostgresSearchIndex(pool, section.search_timeout_s)
        if section.search_backend == "searxng" and section.searxng_url:
            searxng = SearxngSearch(section.searxng_url, section.search_timeout_s)
            stack.push_async_callback(searxng.aclose)
            search = searxng
        allowed = await asyncio.to_thread(load_allowed_domains, settings.policies_root())
        fetch = HttpFetch(allowed, section.http_timeout_s)
        stack.push_async_callback(fetch.aclose)
        embedder = EmbeddingClient(settings.embedding.url(), settings.embedding.timeout_s)
        stack.push_async_callback(embedder.aclose)
        memories = PostgresMemoryStore(pool)
        registry = ToolRegistry(
            [
                CodeExecution(
                    MeteredSandbox(make_sandbox(section.backend_for(CodeExecution.name), settings)),
                    workspaces,
                    section.limits,
                ),
                WebSearch(search),
                fetch,
                DocumentQuery(PostgresAttachmentStore(pool), pool),
                MemorySave(memories, embedder, gate),
                MemoryLoad(memories, embedder, gate),
            ]
        )
        await attach_mcp(stack, registry, settings)
        yield registry
