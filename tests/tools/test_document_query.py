"""document_query over a real attached document (the json module's reference page)."""

from __future__ import annotations

import asyncpg
import pytest

from somaagent.adapters.postgres.attachments import PostgresAttachmentStore
from somaagent.domain.errors import ToolError
from somaagent.domain.tools import ToolCall
from somaagent.tools import ToolOutput, parse_arguments
from somaagent.tools.corpus import DEFAULT_DOC_ROOT, parse_page
from somaagent.tools.document_query import DocumentQuery, split_passages


def test_passages_keep_paragraphs_and_respect_the_size() -> None:
    text = "alpha one\n\nbeta two\n\n" + "g" * 50
    assert split_passages(text, size=20) == ["alpha one\n\nbeta two", "g" * 20, "g" * 20, "g" * 10]


async def ask(tool: DocumentQuery, tenant: str, **arguments: object) -> ToolOutput:
    call = ToolCall(tool="document_query", arguments=arguments, session_id="s",
                    tenant_id=tenant, correlation_id="c")  # fmt: skip
    return await tool.run(call, parse_arguments(tool, call.arguments))


async def test_best_passages_of_an_attachment(pg_pool: asyncpg.Pool) -> None:
    store = PostgresAttachmentStore(pg_pool)
    page = (DEFAULT_DOC_ROOT / "library" / "json.html").read_text()
    doc = parse_page(page, "json.html")
    assert doc is not None
    # One paragraph per sentence, so the document splits into many passages.
    text = doc.body.replace(". ", ".\n\n")
    att = await store.put("tenant-d", "s", "json.txt", text.encode(), "text/plain")
    tool = DocumentQuery(store, pg_pool)
    out = await ask(tool, "tenant-d", attachment_id=att.attachment_id,
                    query="sort_keys dictionaries sorted", max_passages=2)  # fmt: skip
    assert out.data is not None
    passages = out.data["passages"]
    assert len(passages) == 2
    assert passages[0]["of"] > 20
    best = passages[0]["text"].lower()
    assert all(word in best for word in ("sort", "key", "dictionar"))
    assert passages[0]["score"] >= passages[1]["score"]
    with pytest.raises(ToolError, match="attachment_id"):
        await ask(tool, "tenant-other", attachment_id=att.attachment_id, query="json")
