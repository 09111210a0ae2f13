"""web_search over the local corpus: the real Python documentation in PostgreSQL FTS."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import pytest

from somaagent.adapters.postgres.search_index import PostgresSearchIndex
from somaagent.domain.errors import ValidationError
from somaagent.domain.tools import ToolCall
from somaagent.tools import parse_arguments
from somaagent.tools.corpus import CORPUS_PYTHON_DOCS, DEFAULT_DOC_ROOT, load_documents, parse_page
from somaagent.tools.web_search import WebSearch


@pytest.fixture(scope="module")
async def index(pg_pool: asyncpg.Pool) -> PostgresSearchIndex:
    """The first pages of the library reference (argparse, asyncio-*, ...), indexed for real."""
    docs = await asyncio.to_thread(load_documents, DEFAULT_DOC_ROOT, subdir="library", limit=40)
    idx = PostgresSearchIndex(pg_pool)
    assert await idx.upsert(CORPUS_PYTHON_DOCS, docs) == 40
    return idx


def test_sphinx_page_parses_title_url_and_main_text() -> None:
    page = (DEFAULT_DOC_ROOT / "library" / "json.html").read_text()
    doc = parse_page(page, "https://docs.python.org/3.11/library/json.html")
    assert doc is not None
    assert doc.title == "json \u2014 JSON encoder and decoder"
    assert "json.dumps" in doc.body
    assert "jquery" not in doc.body.lower()  # scripts and the sidebar are dropped


async def test_ranked_results_with_titles_urls_and_snippets(index: PostgresSearchIndex) -> None:
    tool = WebSearch(index)
    call = ToolCall(
        tool="web_search",
        arguments={"query": "event loop call_later", "max_results": 3},
        session_id="s",
        tenant_id="t",
        correlation_id="c",
    )
    out = await tool.run(call, parse_arguments(tool, call.arguments))
    assert out.status == "ok"
    assert out.data is not None
    hits = out.data["results"]
    assert 1 <= len(hits) <= 3
    assert hits[0]["url"] == "https://docs.python.org/3.11/library/asyncio-eventloop.html"
    assert hits[0]["title"] == "Event Loop"
    assert re.search(r"\*\*(event|loop|call_later)\*\*", hits[0]["snippet"], re.IGNORECASE)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert out.stdout.startswith("1. Event Loop\n   https://docs.python.org/3.11/library/")


async def test_no_and_match_falls_back_to_any_word(index: PostgresSearchIndex) -> None:
    hits = await index.search("argparse zzzunknownword", 5)
    assert hits
    assert hits[0].url.endswith("/library/argparse.html")


async def test_blank_query_is_refused(index: PostgresSearchIndex) -> None:
    with pytest.raises(ValidationError, match="query"):
        await index.search("   ", 5)
