"""Files in and out of a session.

    POST /v1/sessions/{id}/attachments?name=notes.txt   the raw file as the body, its media
                                                        type as Content-Type; 201 Attachment
    GET  /v1/attachments/{id}                           the file a tool produced or a user
                                                        uploaded, as a download

Uploads are text that document_query can read: a media type outside
`SOMA_GATEWAY__UPLOAD_MEDIA_TYPES` is a 415, a file over `MAX_UPLOAD_BYTES` a 413, a file
that is not UTF-8 or holds characters PostgreSQL refuses a 422 (field `file`). A message
names its files by id (`{"text", "attachments": [id, ...]}`).

Reads are scoped by the caller's tenant: another tenant's attachment id is a 404, as if it
did not exist. Contents come back as a download (`Content-Disposition: attachment`) with a
sandboxing CSP and no MIME sniffing, so a tool-written HTML or SVG file never runs as a page
of the gateway's origin (where the web client keeps its API key). The ETag is the SHA-256.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from somaagent.adapters.postgres.attachments import PostgresAttachmentStore
from somaagent.domain.text_checks import text_problem
from somaagent.domain.tools import Attachment
from somaagent.services.gateway.auth import CurrentPrincipal
from somaagent.services.gateway.errors import ApiError
from somaagent.services.gateway.fields import Line
from somaagent.services.gateway.routes_sessions import SessionId, owned_session
from somaagent.services.gateway.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["attachments"])

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
FileName = Annotated[Line, Query(min_length=1, max_length=255, pattern=r"^[^/\\]+$")]


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266/5987)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment_store(runtime: Runtime) -> PostgresAttachmentStore:
    return PostgresAttachmentStore(
        runtime.pool, timeout_s=runtime.settings.postgres.command_timeout_s
    )


async def _read_upload(request: Request, runtime: Runtime) -> tuple[str, bytes]:
    """The media type and the body, counted against MAX_UPLOAD_BYTES while it arrives."""
    section = runtime.settings.gateway
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in section.upload_media_types:
        allowed = ", ".join(section.upload_media_types)
        message = f"file: {media or 'no type'} (allowed: {allowed})"
        raise ApiError(415, "unsupported_media_type", message, "file")
    too_large = ApiError(
        413, "payload_too_large", f"file: over {section.max_upload_bytes} bytes", "file"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > section.max_upload_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > section.max_upload_bytes:
            raise too_large
        chunks.append(chunk)
    return media, b"".join(chunks)


def _check_text(content: bytes) -> None:
    """UTF-8 text with nothing PostgreSQL or a model cannot take (422, field file)."""
    try:
        problem = text_problem(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError(
            422, "invalid_input", f"file: not UTF-8 text ({exc.reason})", "file"
        ) from exc
    if problem is not None:
        raise ApiError(422, "invalid_input", f"file: {problem}", "file")


@router.post("/sessions/{session_id}/attachments", status_code=201)
async def upload_attachment(
    request: Request, who: CurrentPrincipal, session_id: SessionId, name: FileName
) -> Attachment:
    """Store a file for the session; a later message names it in `attachments`."""
    runtime: Runtime = request.app.state.runtime
    await owned_session(runtime, who, session_id)
    media, content = await _read_upload(request, runtime)
    _check_text(content)
    return await attachment_store(runtime).put(who.tenant_id, session_id, name, content, media)


@router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_attachment(
    request: Request,
    who: CurrentPrincipal,
    attachment_id: Annotated[str, Path(pattern=_ID)],
) -> Response:
    runtime: Runtime = request.app.state.runtime
    attachment, content = await attachment_store(runtime).get(who.tenant_id, attachment_id)
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
