"""GET /v1/attachments/{id}: download a file a tool produced (or a user attached).

Reads are scoped by the caller's tenant: another tenant's attachment id is a 404, as if it
did not exist. Contents come back as a download (`Content-Disposition: attachment`) with a
sandboxing CSP and no MIME sniffing, so a tool-written HTML or SVG file never runs as a page
of the gateway's origin (where the web client keeps its API key).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from somaagent.adapters.postgres.attachments import PostgresAttachmentStore
from somaagent.services.gateway.auth import CurrentPrincipal
from somaagent.services.gateway.runtime import Runtime

router = APIRouter(prefix="/v1/attachments", tags=["attachments"])

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266/5987)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get(
    "/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_attachment(
    request: Request,
    who: CurrentPrincipal,
    attachment_id: Annotated[str, Path(pattern=_ID)],
) -> Response:
    runtime: Runtime = request.app.state.runtime
    store = PostgresAttachmentStore(
        runtime.pool, timeout_s=runtime.settings.postgres.command_timeout_s
    )
    attachment, content = await store.get(who.tenant_id, attachment_id)
    return Response(
        content,
        media_type=attachment.media_type,
        headers={
            "Content-Disposition": content_disposition(attachment.name),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, max-age=3600",
            "ETag": f'"{attachment.sha256}"',
        },
    )
