"""The operator console: its page (GET /console) and the data it shows (GET /v1/console/...).

    GET /v1/console/sessions                      sessions with status and turn count;
        ?status= &persona= &tool= &since= &until= &q= &limit= &cursor=
    GET /v1/console/sessions/{id}/timeline        every stored event as display items;
        ?after=<seq> &limit= &turn=<correlation id> (the page holding that turn)
    GET /v1/console/sessions/{id}/profiles        active profile, fallback chain, override,
                                                  turns per answering profile
    GET /v1/console/requeue?view=pending|resolved|expired, GET /v1/console/requeue/counts,
    GET /v1/console/requeue/{id}                  item, audit trail, hash-chain status
                                                  (requeue views: tenant admins only)

Sessions are read through `routes_sessions.owned_session`, the same access check as the
sessions API: a user key reaches its own sessions, a tenant admin all of the tenant's;
anything else is a 404 here too, and the list follows the same rule. The page resolves
requeue items with the existing POST /v1/policy/requeue/{id}/resolve.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from somaagent.adapters.postgres.audit import PostgresAuditLog
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.adapters.postgres.sessions import SessionRow, encode_cursor
from somaagent.domain.errors import NotFoundError
from somaagent.domain.turn_state import TurnStatus
from somaagent.services.gateway import console_queries as q
from somaagent.services.gateway.auth import AdminPrincipal, CurrentPrincipal
from somaagent.services.gateway.console_timeline import (
    RequeueOut,
    Timeline,
    audit_trail,
    link,
    profile_info,
    requeue_out,
    timeline_page,
)
from somaagent.services.gateway.fields import Line
from somaagent.services.gateway.routes_sessions import SessionId, owned_session
from somaagent.services.gateway.runtime import Runtime

router = APIRouter(tags=["console"])
PAGE = FilePath(__file__).parent / "static" / "console.html"
ROLE = "dialogue"


class ConsoleSession(BaseModel):
    session_id: str
    tenant_id: str
    persona_id: str
    title: str | None
    created_at: datetime
    last_activity: datetime
    status: str
    turn_count: int
    link: str


class ConsoleSessionPage(BaseModel):
    sessions: list[ConsoleSession]
    next_cursor: str | None


class ProfileSummary(BaseModel):
    role: str
    active: str | None
    model: str | None
    context_window: int | None
    fallback_chain: list[dict[str, Any]]
    override: str | None
    turns_by_profile: list[dict[str, Any]]


class RequeuePage(BaseModel):
    view: str
    items: list[RequeueOut]
    counts: dict[str, int]


class RequeueDetail(BaseModel):
    item: RequeueOut
    audit: list[dict[str, Any]]
    chain_ok: bool
    chain_problem: str | None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/console", include_in_schema=False)
async def console_page() -> FileResponse:
    return FileResponse(PAGE)


@router.get("/v1/console/sessions")
async def console_sessions(
    request: Request,
    who: CurrentPrincipal,
    *,
    status: TurnStatus | Literal["idle"] | None = None,
    persona: Annotated[Line | None, Query(max_length=128)] = None,
    tool: Annotated[Line | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    search: Annotated[Line | None, Query(alias="q", max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[Line | None, Query(max_length=200)] = None,
) -> ConsoleSessionPage:
    """The caller's sessions (a tenant admin: all of the tenant's), most recently active
    first; a session's status is its latest turn's."""
    runtime = _runtime(request)
    found = q.SessionFilter(persona, since, until, status, tool, search)
    # the rule of GET /v1/sessions: a tenant admin sees every session, a user its own
    admin = await runtime.admins.is_admin(who.tenant_id, who.subject)
    owner = None if admin else who.subject
    rows = await q.list_sessions(runtime.pool, who.tenant_id, found, limit, cursor, owner=owner)
    page = [
        ConsoleSession(
            session_id=r["session_id"],
            tenant_id=r["tenant_id"],
            persona_id=r["persona_id"],
            title=r["title"],
            created_at=r["created_at"],
            last_activity=r["updated_at"],
            status=r["status"],
            turn_count=r["turn_count"],
            link=link(r["session_id"]),
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    next_cursor = None
    if last is not None:
        fields = {k: last[k] for k in SessionRow.model_fields}
        next_cursor = encode_cursor(SessionRow(**fields))
    return ConsoleSessionPage(sessions=page, next_cursor=next_cursor)


@router.get("/v1/console/sessions/{session_id}/timeline")
async def console_timeline(
    request: Request,
    who: CurrentPrincipal,
    session_id: SessionId,
    *,
    after: Annotated[int, Query(ge=0, description="items of events with seq > after")] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="events per page")] = 200,
    turn: Annotated[Line | None, Query(max_length=128)] = None,
) -> Timeline:
    """Every stored event of the session in order, as display items, one page at a time."""
    runtime = _runtime(request)
    await owned_session(runtime, who, session_id)
    if turn is not None:
        start = await q.turn_start(runtime.pool, session_id, turn)
        if start is None:
            raise NotFoundError(f"turn {turn} has no stored events in session {session_id}")
        after = start - 1
    return await timeline_page(runtime, who.tenant_id, session_id, after, limit)


@router.get("/v1/console/sessions/{session_id}/profiles")
async def console_profiles(
    request: Request, who: CurrentPrincipal, session_id: SessionId
) -> ProfileSummary:
    """The dialogue profile this session's tenant uses now, and who answered its turns."""
    runtime = _runtime(request)
    await owned_session(runtime, who, session_id)
    store = PostgresModelProfileStore(runtime.pool)
    chain = await profile_info(store, who.tenant_id)
    overrides = await store.list_overrides(who.tenant_id)
    override = next((o.profile for o in overrides if o.role == ROLE), None)
    head = chain.chain[0] if chain.chain else None
    return ProfileSummary(
        role=ROLE,
        active=head.name if head else None,
        model=head.model if head else None,
        context_window=head.parameters.context_window if head else None,
        fallback_chain=[
            {"name": p.name, "model": p.model, "context_window": p.parameters.context_window}
            for p in chain.chain[1:]
        ],
        override=override,
        turns_by_profile=await q.profile_use(runtime.pool, session_id),
    )


@router.get("/v1/console/requeue")
async def console_requeue(
    request: Request,
    who: AdminPrincipal,
    view: Literal["pending", "resolved", "expired"] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RequeuePage:
    """The tenant's requeue items of one view, newest first, with each view's count."""
    pool = _runtime(request).pool
    items = await q.requeue_view(pool, who.tenant_id, view, limit)
    counts = await q.requeue_counts(pool, who.tenant_id)
    return RequeuePage(view=view, items=[requeue_out(i) for i in items], counts=counts)


@router.get("/v1/console/requeue/counts")
async def console_requeue_counts(request: Request, who: AdminPrincipal) -> dict[str, int]:
    return await q.requeue_counts(_runtime(request).pool, who.tenant_id)


@router.get("/v1/console/requeue/{item_id}")
async def console_requeue_item(
    request: Request, who: AdminPrincipal, item_id: Annotated[str, Path(max_length=64)]
) -> RequeueDetail:
    """One item with its audit trail; chain_ok says every audit row's hash recomputes and
    links to the row before it."""
    runtime = _runtime(request)
    item = await runtime.requeue.get(item_id, who.tenant_id)
    records = await PostgresAuditLog(runtime.pool).for_subject(item.id)
    trail, problem = await audit_trail(runtime.pool, records)
    return RequeueDetail(
        item=requeue_out(item), audit=trail, chain_ok=problem is None, chain_problem=problem
    )
