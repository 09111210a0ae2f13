"""web_search: ranked results (title, URL, snippet) from the configured search backend.

Backends: the local PostgreSQL full-text corpus (`soma search index` builds it from the
Python documentation) and SearXNG's JSON API for production hosts with network access.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from somaagent.domain.errors import BackendTimeoutError, BackendUnavailableError
from somaagent.domain.tools import SearchBackend, SearchHit, ToolCall
from somaagent.tools.base import ToolOutput


class WebSearchArgs(BaseModel):
    """Search the web (or the local corpus) and get ranked results with snippets."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=500, description="what to search for")
    max_results: int = Field(default=5, ge=1, le=10, description="how many results (1-10)")


class WebSearch:
    """The web_search tool over a SearchBackend."""

    name: ClassVar[str] = "web_search"
    description: ClassVar[str] = (
        "Search for documents. Returns up to max_results ranked results, each with a title, "
        "a URL and a snippet."
    )
    arguments: ClassVar[type[BaseModel]] = WebSearchArgs

    def __init__(self, backend: SearchBackend) -> None:
        self.backend = backend

    async def run(self, call: ToolCall, args: WebSearchArgs) -> ToolOutput:
        hits = await self.backend.search(args.query, args.max_results)
        lines = [f"{i}. {h.title}\n   {h.url}\n   {h.snippet}" for i, h in enumerate(hits, 1)]
        return ToolOutput(
            status="ok",
            stdout="\n".join(lines) if lines else "no results",
            data={"results": [h.model_dump() for h in hits]},
        )


class SearxngSearch:
    """SearchBackend on a SearXNG instance's JSON API (`format=json` must be enabled)."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def search(self, query: str, limit: int) -> list[SearchHit]:
        try:
            response = await self._client.get("/search", params={"q": query, "format": "json"})
            response.raise_for_status()
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(f"searxng timed out: {exc}") from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"searxng failed: {exc}") from exc
        results: list[dict[str, Any]] = response.json().get("results", [])
        return [
            SearchHit(
                title=str(r.get("title", "")),
                url=str(r.get("url", "")),
                snippet=str(r.get("content", "")),
                score=float(r.get("score", 0.0)),
            )
            for r in results[:limit]
        ]
