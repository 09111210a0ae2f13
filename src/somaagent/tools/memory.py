"""memory_save / memory_load: the persona's semantic memory.

Every save is a MemoryOperation that passes the policy gate (action memory.write, resource
the namespace): a denied write is held in the requeue store and reported "denied". A load
asks the policy engine for memory.read. Vectors come from the embedding server
(all-MiniLM-L6-v2, /v1/embeddings) and recall is cosine similarity in PostgreSQL.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.adapters.postgres.memories import PostgresMemoryStore
from somaagent.application.policy.gate import PolicyGate, tool_envelope
from somaagent.domain.memory import MemoryOperation
from somaagent.domain.policy import PolicyRequest
from somaagent.domain.tools import ToolCall
from somaagent.tools.base import ToolOutput

NAMESPACE = r"^[a-z0-9_.-]{1,64}$"


class MemorySaveArgs(BaseModel):
    """Remember a fact for later conversations."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=8000, description="what to remember")
    namespace: str = Field(default="default", pattern=NAMESPACE)
    key: str | None = Field(default=None, max_length=256, description="an optional label")


class MemoryLoadArgs(BaseModel):
    """Recall remembered facts that are closest in meaning to a query."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000, description="what to recall")
    namespace: str = Field(default="default", pattern=NAMESPACE)
    limit: int = Field(default=3, ge=1, le=20)


class _MemoryTool:
    """What both memory tools run on: the store, the embedding client and the policy gate."""

    def __init__(
        self, store: PostgresMemoryStore, embedder: EmbeddingClient, gate: PolicyGate
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.gate = gate


class MemorySave(_MemoryTool):
    name: ClassVar[str] = "memory_save"
    description: ClassVar[str] = "Save a fact to long-term memory (checked by policy)."
    arguments: ClassVar[type[BaseModel]] = MemorySaveArgs

    async def run(self, call: ToolCall, args: MemorySaveArgs) -> ToolOutput:
        gated = await self.gate.guard_memory_write(
            tool_envelope(call),
            namespace=args.namespace,
            content={"content": args.content, "key": args.key},
        )
        operation = MemoryOperation(
            kind="write", namespace=args.namespace, key=args.key, content=args.content,
            verdict=gated.verdict,
        )  # fmt: skip
        data = {"operation": operation.model_dump(mode="json")}
        if not gated.allowed:
            return ToolOutput(status="denied", reason=gated.user_message, data=data)
        (vector,) = await self.embedder.embed([args.content])
        memory_id = await self.store.add(
            call.tenant_id, call.persona_id, args.namespace,
            key=args.key, content=args.content, vector=vector,
        )  # fmt: skip
        return ToolOutput(
            status="ok", stdout=f"saved as {memory_id}", data={**data, "memory_id": memory_id}
        )


class MemoryLoad(_MemoryTool):
    name: ClassVar[str] = "memory_load"
    description: ClassVar[str] = "Recall saved facts closest in meaning to a query."
    arguments: ClassVar[type[BaseModel]] = MemoryLoadArgs

    async def run(self, call: ToolCall, args: MemoryLoadArgs) -> ToolOutput:
        verdict = await self.gate.client.evaluate(
            PolicyRequest(
                tenant=call.tenant_id,
                persona=call.persona_id,
                action="memory.read",
                resource=args.namespace,
                payload={"query": args.query},
            )
        )
        if not verdict.allow:
            return ToolOutput(
                status="denied", reason="policy denied: " + "; ".join(verdict.reasons)
            )
        (vector,) = await self.embedder.embed([args.query])
        hits = await self.store.nearest(
            call.tenant_id, call.persona_id, args.namespace, vector, args.limit
        )
        lines = [f"{h['score']:.3f} {h['content']}" for h in hits]
        return ToolOutput(
            status="ok",
            stdout="\n".join(lines) if lines else "nothing remembered",
            data={"memories": hits},
        )
