"""Agent memories in PostgreSQL: content plus a unit-length embedding (float4[]).

    store = PostgresMemoryStore(pool)
    await store.add(tenant, persona, namespace, key=key, content=text, vector=vector)
    hits = await store.nearest(tenant, persona, namespace, query_vector, limit=5)

Vectors are normalised on the way in, so cosine similarity is the dot product, computed in
SQL over the scope's rows (tenant + persona + namespace). Without pgvector this is a scan of
the scope, fine for the thousands of memories a persona keeps; production can move the
column to pgvector without changing the port.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import asyncpg

from somaagent.adapters.postgres.driver_errors import translated
from somaagent.domain.constants import TABLE_MEMORY
from somaagent.domain.errors import ValidationError
from somaagent.domain.events import new_id

_INSERT = (
    f"INSERT INTO {TABLE_MEMORY} (memory_id, tenant_id, persona_id, namespace, key, content,"
    " embedding) VALUES ($1, $2, $3, $4, $5, $6, $7::float4[])"
)
_NEAREST = (
    "SELECT m.memory_id, m.key, m.content, m.created_at,"
    " (SELECT sum(a::float8 * b::float8) FROM unnest(m.embedding, $4::float4[]) AS t(a, b))"
    " AS score"
    f" FROM {TABLE_MEMORY} m WHERE m.tenant_id = $1 AND m.persona_id = $2 AND m.namespace = $3"
    " ORDER BY score DESC NULLS LAST, m.created_at DESC LIMIT $5"
)


def unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        raise ValidationError("embedding", "is the zero vector")
    return [x / norm for x in vector]


class PostgresMemoryStore:
    def __init__(self, pool: asyncpg.Pool, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def add(
        self,
        tenant_id: str,
        persona_id: str,
        namespace: str,
        *,
        key: str | None,
        content: str,
        vector: Sequence[float],
    ) -> str:
        memory_id = new_id()
        async with translated("save memory"):
            await self._pool.execute(
                _INSERT, memory_id, tenant_id, persona_id, namespace, key, content, unit(vector),
                timeout=self._timeout,
            )  # fmt: skip
        return memory_id

    async def nearest(
        self,
        tenant_id: str,
        persona_id: str,
        namespace: str,
        vector: Sequence[float],
        limit: int,
    ) -> list[dict[str, object]]:
        async with translated("recall memories"):
            rows = await self._pool.fetch(
                _NEAREST, tenant_id, persona_id, namespace, unit(vector), limit,
                timeout=self._timeout,
            )  # fmt: skip
        return [
            {"memory_id": r["memory_id"], "key": r["key"], "content": r["content"],
             "score": float(r["score"] or 0.0)}
            for r in rows
        ]  # fmt: skip
