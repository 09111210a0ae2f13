"""Attachments in PostgreSQL: contents stored once by sha256 (bytea), named per session.

A tool's produced file and a user's upload both become an `attachment_refs` row pointing at
the content row; equal files share one content row. Reads are scoped by tenant: another
tenant's attachment id is NotFoundError, as if it did not exist.
"""

from __future__ import annotations

import hashlib
from typing import Final

import asyncpg

from somaagent.adapters.postgres.driver_errors import translated
from somaagent.domain.constants import TABLE_ATTACHMENT_REFS, TABLE_ATTACHMENTS
from somaagent.domain.errors import NotFoundError, ValidationError
from somaagent.domain.tools import Attachment

MAX_ATTACHMENT_BYTES: Final = 64 * 1024 * 1024

_PUT_CONTENT = (
    f"INSERT INTO {TABLE_ATTACHMENTS} (sha256, size, content) VALUES ($1, $2, $3)"
    " ON CONFLICT (sha256) DO NOTHING"
)
_PUT_REF = (
    f"INSERT INTO {TABLE_ATTACHMENT_REFS} (attachment_id, tenant_id, session_id, name,"
    " media_type, sha256, size) VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_GET = (
    f"SELECT r.attachment_id, r.name, r.media_type, r.sha256, r.size, c.content"
    f" FROM {TABLE_ATTACHMENT_REFS} r JOIN {TABLE_ATTACHMENTS} c USING (sha256)"
    " WHERE r.tenant_id = $1 AND r.attachment_id = $2"
)

_INFO = (
    f"SELECT attachment_id, name, media_type, sha256, size FROM {TABLE_ATTACHMENT_REFS}"
    " WHERE tenant_id = $1 AND attachment_id = $2"
)


class PostgresAttachmentStore:
    """AttachmentStore on `attachments` (content by sha256) + `attachment_refs` (names)."""

    def __init__(self, pool: asyncpg.Pool, timeout_s: float = 30.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def put(
        self, tenant_id: str, session_id: str, name: str, content: bytes, media_type: str
    ) -> Attachment:
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise ValidationError("content", f"attachment exceeds {MAX_ATTACHMENT_BYTES} bytes")
        digest = hashlib.sha256(content).hexdigest()
        attachment = Attachment(
            name=name[:255] or "file", sha256=digest, size=len(content), media_type=media_type
        )
        async with (
            translated("store attachment"),
            self._pool.acquire(timeout=self._timeout) as conn,
            conn.transaction(),
        ):
            await conn.execute(_PUT_CONTENT, digest, len(content), content, timeout=self._timeout)
            await conn.execute(
                _PUT_REF, attachment.attachment_id, tenant_id, session_id, attachment.name,
                media_type, digest, len(content), timeout=self._timeout,
            )  # fmt: skip
        return attachment

    async def info(self, tenant_id: str, attachment_id: str) -> Attachment:
        """The attachment's record without its content; NotFoundError across tenants."""
        async with translated("read attachment"), self._pool.acquire(timeout=self._timeout) as conn:
            row = await conn.fetchrow(_INFO, tenant_id, attachment_id, timeout=self._timeout)
        if row is None:
            raise NotFoundError(f"attachment {attachment_id!r} not found")
        return _attachment(row)

    async def get(self, tenant_id: str, attachment_id: str) -> tuple[Attachment, bytes]:
        async with translated("read attachment"), self._pool.acquire(timeout=self._timeout) as conn:
            row = await conn.fetchrow(_GET, tenant_id, attachment_id, timeout=self._timeout)
        if row is None:
            raise NotFoundError(f"attachment {attachment_id!r} not found")
        return _attachment(row), bytes(row["content"])


def _attachment(row: asyncpg.Record) -> Attachment:
    return Attachment(
        attachment_id=row["attachment_id"],
        name=row["name"],
        sha256=row["sha256"],
        size=row["size"],
        media_type=row["media_type"],
    )
