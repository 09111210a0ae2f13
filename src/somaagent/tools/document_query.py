"""document_query: find the passages of an attached document that answer a query.

The attachment (by id, scoped to the caller's tenant) is read from the attachment store,
decoded as text, split into passages of about `PASSAGE_CHARS` on paragraph boundaries, and
ranked with PostgreSQL full-text search (ts_rank_cd over websearch_to_tsquery).
"""

from __future__ import annotations

from typing import ClassVar, Final

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from somaagent.adapters.postgres.search_index import rank_passages
from somaagent.domain.errors import NotFoundError, ToolError
from somaagent.domain.tools import AttachmentStore, ToolCall
from somaagent.tools.base import ToolOutput

PASSAGE_CHARS: Final = 800
MAX_DOCUMENT_CHARS: Final = 2_000_000


def split_passages(text: str, size: int = PASSAGE_CHARS) -> list[str]:
    """Paragraphs packed into passages of up to `size` characters (long ones are cut)."""
    passages: list[str] = []
    current = ""
    for para in (p.strip() for p in text.split("\n\n")):
        for start in range(0, max(len(para), 1), size):
            piece = para[start : start + size]
            if not piece:
                continue
            if current and len(current) + len(piece) + 2 > size:
                passages.append(current)
                current = ""
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        passages.append(current)
    return passages


class DocumentQueryArgs(BaseModel):
    """Search a document the user attached and get the passages that match best."""

    model_config = ConfigDict(extra="forbid")

    attachment_id: str = Field(min_length=1, max_length=64, description="the attachment's id")
    query: str = Field(min_length=1, max_length=500, description="what to look for")
    max_passages: int = Field(default=3, ge=1, le=10)


class DocumentQuery:
    """The document_query tool."""

    name: ClassVar[str] = "document_query"
    description: ClassVar[str] = (
        "Find the passages of an attached document that best match a query. "
        "Returns up to max_passages passages with their position in the document."
    )
    arguments: ClassVar[type[BaseModel]] = DocumentQueryArgs

    def __init__(self, attachments: AttachmentStore, pool: asyncpg.Pool) -> None:
        self.attachments = attachments
        self.pool = pool

    async def run(self, call: ToolCall, args: DocumentQueryArgs) -> ToolOutput:
        try:
            attachment, content = await self.attachments.get(call.tenant_id, args.attachment_id)
        except NotFoundError as exc:
            raise ToolError(f"attachment_id: {exc.message}") from exc
        text = content.decode("utf-8", errors="replace")[:MAX_DOCUMENT_CHARS]
        passages = split_passages(text)
        ranked = await rank_passages(self.pool, passages, args.query, args.max_passages)
        hits = [{"passage": n, "of": len(passages), "text": body, "score": score}
                for n, body, score in ranked]  # fmt: skip
        lines = [f"[{h['passage']}/{h['of']}] {h['text']}" for h in hits]
        return ToolOutput(
            status="ok",
            stdout="\n\n".join(lines) if lines else "no passage matches",
            data={"attachment": attachment.model_dump(), "passages": hits},
        )
