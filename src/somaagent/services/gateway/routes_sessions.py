"""Sessions: create, list, read, share, page through history, post a message (202).

A session belongs to the user whose key created it (its `owner`, the key's subject): a
`user` key lists and reaches its own sessions, and reads (list, get, events, stream) the
ones their owner shared with the tenant (`PATCH {"shared": true}`, by the owner or an
admin); a tenant admin (in OpenFGA) lists and reaches every session of the tenant. Anyone
else's session answers 404, exactly as an unknown id does, so a key learns nothing of
sessions it may not see. Every route that names a session (here, the stream, attachments,
the console) goes through `owned_session`; only a reader passes `shared_ok=True`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from somaagent.adapters.postgres.attachments import PostgresAttachmentStore
from somaagent.adapters.postgres.sessions import SessionRow
from somaagent.domain.errors import NotFoundError
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    SESSION_CREATED,
    MessageReceived,
    SessionCreated,
    make_event,
)
from somaagent.domain.events import new_id
from somaagent.domain.tools import Attachment
from somaagent.services.gateway.auth import CurrentPrincipal, Principal
from somaagent.services.gateway.errors import ApiError
from somaagent.services.gateway.fields import Line, Text
from somaagent.services.gateway.runtime import Runtime

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_ATTACHMENT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
SessionId = Annotated[str, Path(pattern=_ID)]


class CreateSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Line | None = Field(default=None, max_length=256)
    persona_id: str = Field(default="default", pattern=_ID)


class ShareSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shared: bool = Field(description="the tenant's other users may read the session")


class PostMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1)
    attachments: list[Annotated[str, Field(pattern=_ATTACHMENT_ID)]] = Field(
        default_factory=list,
        max_length=8,
        description="ids of files uploaded to this tenant that the message is about",
    )


class SessionOut(BaseModel):
    session_id: str
    persona_id: str
    title: str | None
    owner: str | None = Field(description="subject of the key that created the session")
    shared: bool
    created_at: datetime
    updated_at: datetime
    last_seq: int


class SessionPage(BaseModel):
    sessions: list[SessionOut]
    next_cursor: str | None


class MessageAccepted(BaseModel):
    session_id: str
    correlation_id: str
    event_id: str
    partition: int
    offset: int


class EventPage(BaseModel):
    events: list[dict[str, Any]]
    next_after: int | None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _out(info: SessionRow) -> SessionOut:
    return SessionOut(
        session_id=info.session_id,
        persona_id=info.persona_id,
        title=info.title,
        owner=info.owner,
        shared=info.shared,
        created_at=info.created_at,
        updated_at=info.updated_at,
        last_seq=info.last_seq,
    )


async def owned_session(
    runtime: Runtime, who: Principal, session_id: str, *, shared_ok: bool = False
) -> SessionRow:
    """The caller's session: its own, a shared one when `shared_ok` (reading), or any of
    the tenant's for a tenant admin; NotFoundError (404) when unknown, another tenant's or
    another user's."""
    row = await runtime.sessions.get(who.tenant_id, session_id)
    if row.owner == who.subject or (shared_ok and row.shared):
        return row
    if await runtime.admins.is_admin(who.tenant_id, who.subject):
        return row
    raise NotFoundError(f"session {session_id} not found")


@router.post("", status_code=201)
async def create_session(
    request: Request, who: CurrentPrincipal, body: CreateSession
) -> SessionOut:
    runtime = _runtime(request)
    event = make_event(
        SESSION_CREATED,
        SessionCreated(title=body.title),
        session_id=new_id(),
        tenant_id=who.tenant_id,
        persona_id=body.persona_id,
    )
    return _out(await runtime.sessions.open(runtime.store, event, who.subject))


@router.get("")
async def list_sessions(
    request: Request,
    who: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[Line | None, Query(max_length=200)] = None,
) -> SessionPage:
    """The caller's sessions (a tenant admin: all of the tenant's), most recent first."""
    runtime = _runtime(request)
    admin = await runtime.admins.is_admin(who.tenant_id, who.subject)
    page = await runtime.sessions.list(
        who.tenant_id, owner=None if admin else who.subject, limit=limit, cursor=cursor
    )
    return SessionPage(sessions=[_out(s) for s in page.sessions], next_cursor=page.next_cursor)


@router.get("/{session_id}")
async def get_session(request: Request, who: CurrentPrincipal, session_id: SessionId) -> SessionOut:
    return _out(await owned_session(_runtime(request), who, session_id, shared_ok=True))


@router.patch("/{session_id}")
async def share_session(
    request: Request, who: CurrentPrincipal, session_id: SessionId, body: ShareSession
) -> SessionOut:
    """Share the session with the tenant's users (read only), or stop: its owner or an admin."""
    runtime = _runtime(request)
    row = await owned_session(runtime, who, session_id, shared_ok=True)
    if row.owner != who.subject and not await runtime.admins.is_admin(who.tenant_id, who.subject):
        raise ApiError(403, "forbidden", "only the session's owner or a tenant admin shares it")
    return _out(await runtime.sessions.set_shared(who.tenant_id, session_id, body.shared))


@router.get("/{session_id}/events")
async def session_events(
    request: Request,
    who: CurrentPrincipal,
    session_id: SessionId,
    after: Annotated[int, Query(ge=0, description="return events with seq > after")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EventPage:
    runtime = _runtime(request)
    await owned_session(runtime, who, session_id, shared_ok=True)
    stored = await runtime.store.read_session(session_id, from_seq=after + 1, limit=limit)
    events = [
        {"seq": s.seq, "position": s.position, "event": s.envelope.model_dump(mode="json")}
        for s in stored
    ]
    next_after = stored[-1].seq if len(stored) == limit else None
    return EventPage(events=events, next_after=next_after)


async def _named_attachments(runtime: Runtime, who: Principal, ids: list[str]) -> list[Attachment]:
    """The tenant's attachments a message names; 422 (field attachments) for an unknown id."""
    store = PostgresAttachmentStore(
        runtime.pool, timeout_s=runtime.settings.postgres.command_timeout_s
    )
    found = []
    for attachment_id in ids:
        try:
            found.append(await store.info(who.tenant_id, attachment_id))
        except NotFoundError as exc:
            raise ApiError(
                422, "invalid_input", f"attachments: {exc.message}", "attachments"
            ) from exc
    return found


@router.post("/{session_id}/messages", status_code=202)
async def post_message(
    request: Request, who: CurrentPrincipal, session_id: SessionId, body: PostMessage
) -> MessageAccepted:
    runtime = _runtime(request)
    limit = runtime.settings.gateway.max_message_chars
    if len(body.text) > limit:
        raise ApiError(413, "payload_too_large", f"text: longer than {limit} characters", "text")
    info = await owned_session(runtime, who, session_id)
    attachments = await _named_attachments(runtime, who, body.attachments)
    event = make_event(
        MESSAGE_RECEIVED,
        MessageReceived(text=body.text, attachments=attachments),
        session_id=session_id,
        tenant_id=who.tenant_id,
        persona_id=info.persona_id,
        correlation_id=new_id(),
    )
    position = await runtime.bus.publish(runtime.settings.gateway.inbound_topic, event)
    runtime.metrics.messages_published.inc()
    assert event.correlation_id is not None
    return MessageAccepted(
        session_id=session_id,
        correlation_id=event.correlation_id,
        event_id=event.event_id,
        partition=position.partition,
        offset=position.offset,
    )
