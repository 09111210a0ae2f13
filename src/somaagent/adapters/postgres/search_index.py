"""The local web_search index: documents in PostgreSQL full-text search.

    index = PostgresSearchIndex(pool)
    await index.upsert("python-docs", documents)
    hits = await index.search("read a json file", limit=5)

Ranking is ts_rank_cd over a title-weighted tsvector (generated column, GIN index); the
query is parsed with websearch_to_tsquery (quotes, OR, -word), falling back to an OR of the
words when the AND finds nothing. Snippets come from ts_headline on the body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg

from somaagent.adapters.postgres.driver_errors import translated
from somaagent.domain.constants import TABLE_SEARCH_DOCUMENTS
from somaagent.domain.errors import ValidationError
from somaagent.domain.tools import SearchDocument, SearchHit

BATCH: Final = 100
_UPSERT = (
    f"INSERT INTO {TABLE_SEARCH_DOCUMENTS} (url, corpus, title, body)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
    " ON CONFLICT (url) DO UPDATE SET corpus = EXCLUDED.corpus, title = EXCLUDED.title,"
    " body = EXCLUDED.body, indexed_at = now()"
)
_SEARCH = (
    "WITH q AS (SELECT CASE WHEN $3 THEN to_tsquery('simple', $1)"
    " ELSE websearch_to_tsquery('english', $1) END AS query),"
    f" top AS (SELECT d.url, d.title, d.body, ts_rank_cd(d.tsv, q.query) AS score"
    f" FROM {TABLE_SEARCH_DOCUMENTS} d, q WHERE d.tsv @@ q.query"
    " ORDER BY score DESC, d.url LIMIT $2)"
    " SELECT top.url, top.title, top.score, ts_headline('english', top.body, q.query,"
    " 'MaxFragments=2, MaxWords=30, MinWords=12, StartSel=**, StopSel=**') AS snippet"
    " FROM top, q ORDER BY top.score DESC, top.url"
)
_PASSAGES = (
    "WITH q AS (SELECT websearch_to_tsquery('english', $2) AS query),"
    " p AS (SELECT body, n, to_tsvector('english', body) AS tsv"
    " FROM unnest($1::text[]) WITH ORDINALITY AS c(body, n))"
    " SELECT p.n, p.body, ts_rank_cd(p.tsv, q.query) AS score FROM p, q"
    " WHERE p.tsv @@ q.query ORDER BY score DESC, p.n LIMIT $3"
)
_WORDS = "SELECT string_agg(quote_literal(lexeme), ' | ') FROM unnest(to_tsvector('english', $1))"


class PostgresSearchIndex:
    """SearchBackend over the `search_documents` table."""

    def __init__(self, pool: asyncpg.Pool, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def count(self, corpus: str) -> int:
        """How many documents the corpus holds."""
        async with translated("count documents"):
            value = await self._pool.fetchval(
                f"SELECT count(*) FROM {TABLE_SEARCH_DOCUMENTS} WHERE corpus = $1",
                corpus,
                timeout=self._timeout,
            )
        return int(value or 0)

    async def upsert(self, corpus: str, documents: Sequence[SearchDocument]) -> int:
        """Insert or refresh documents by URL; returns how many were written."""
        for start in range(0, len(documents), BATCH):
            chunk = documents[start : start + BATCH]
            async with (
                translated("index documents"),
                self._pool.acquire(timeout=self._timeout) as conn,
            ):
                await conn.execute(
                    _UPSERT,
                    [d.url for d in chunk],
                    [corpus] * len(chunk),
                    [d.title for d in chunk],
                    [d.body for d in chunk],
                    timeout=max(self._timeout, 60.0),
                )
        return len(documents)

    async def search(self, query: str, limit: int) -> list[SearchHit]:
        if not query.strip():
            raise ValidationError("query", "must contain a word")
        async with (
            translated("search documents"),
            self._pool.acquire(timeout=self._timeout) as conn,
        ):
            rows = await conn.fetch(_SEARCH, query, limit, False, timeout=self._timeout)
            if not rows:
                any_word = await conn.fetchval(_WORDS, query, timeout=self._timeout)
                if any_word:
                    rows = await conn.fetch(_SEARCH, any_word, limit, True, timeout=self._timeout)
        return [
            SearchHit(title=r["title"], url=r["url"], snippet=r["snippet"], score=r["score"])
            for r in rows
        ]


async def rank_passages(
    pool: asyncpg.Pool, passages: Sequence[str], query: str, limit: int, timeout_s: float = 5.0
) -> list[tuple[int, str, float]]:
    """(1-based index, text, score) of the passages matching `query`, best first."""
    if not query.strip():
        raise ValidationError("query", "must contain a word")
    async with translated("rank passages"), pool.acquire(timeout=timeout_s) as conn:
        rows = await conn.fetch(_PASSAGES, list(passages), query, limit, timeout=timeout_s)
    return [(int(r["n"]), str(r["body"]), float(r["score"])) for r in rows]
