"""Assembling the console's answers: a session's timeline page (stored events, turn states,
restarts and requeue items), the tenant's dialogue profile chain, requeue items as the
dashboard shows them, and an item's audit trail with its hash-chain check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from pydantic import BaseModel

from somaagent.adapters.postgres.audit import AuditRecord
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.application.model_profiles import select_chain
from somaagent.domain.errors import NotFoundError
from somaagent.domain.event_store import StoredEvent
from somaagent.domain.event_types import MESSAGE_RECEIVED, TURN_COMPLETED
from somaagent.domain.events import utc_now
from somaagent.domain.llm import ModelProfile
from somaagent.domain.policy import GENESIS_HASH, RequeueItem, audit_hash
from somaagent.services.gateway import console_queries as q
from somaagent.services.gateway.console_views import (
    Item,
    ProfileInfo,
    event_items,
    requeue_fields,
    visible,
)
from somaagent.services.gateway.runtime import Runtime


class TurnOut(BaseModel):
    """One turn of the page: its status (running, awaiting_tool, awaiting_policy,
    completed, failed), attempt, answering profile and deep link."""

    correlation_id: str
    status: str
    attempt: int
    profile: str | None
    first_seq: int | None
    link: str


class Timeline(BaseModel):
    session_id: str
    items: list[Item]
    turns: list[TurnOut]
    #: Pass as `after` for the next page; None on the last page.
    next_after: int | None
    #: The seq of the last event on this page (`after` for live catch-up).
    last_seq: int
    link: str


class RequeueOut(BaseModel):
    id: str
    status: str
    view: str
    tenant_id: str
    session_id: str
    turn: str | None
    action: str
    resource: str
    blocked_by: list[str]
    policy_version: str
    constitution_hash: str
    age_s: float
    age: str
    created_at: datetime
    resolved_by: str | None
    resolution_reason: str | None
    session_link: str


@dataclass(frozen=True)
class Chain:
    chain: list[ModelProfile]
    models: dict[str, str] = field(default_factory=dict)

    def info(self, stored: Sequence[StoredEvent] = ()) -> ProfileInfo:
        """The profile names the timeline shows; a message that asked for a profile makes
        that profile its turn's primary."""
        requested = {
            str(s.envelope.correlation_id): str(s.envelope.payload["model_profile"])
            for s in stored
            if s.envelope.type == MESSAGE_RECEIVED and s.envelope.payload.get("model_profile")
        }
        return ProfileInfo(self.models, self.chain[0].name if self.chain else None, requested)


def link(session_id: str, turn: str | None = None) -> str:
    """The console URL of a session (and of one of its turns), for tickets."""
    return f"/console#/session/{session_id}" + (f"/turn/{turn}" if turn else "")


async def profile_info(store: PostgresModelProfileStore, tenant_id: str) -> Chain:
    """The tenant's dialogue profile and fallbacks now (empty when none is configured)."""
    profiles = await store.list_profiles()
    overrides = await store.list_overrides(tenant_id)
    try:
        chain = select_chain(profiles, overrides, tenant_id, "dialogue")
    except NotFoundError:
        chain = []
    return Chain(chain, {p.name: p.model for p in profiles})


def human_age(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def requeue_out(item: RequeueItem) -> RequeueOut:
    view = next(v for v, statuses in q.VIEWS.items() if item.status in statuses)
    age = (utc_now() - item.created_at).total_seconds()
    return RequeueOut(
        id=item.id,
        status=item.status,
        view=view,
        tenant_id=item.tenant_id,
        session_id=item.session_id,
        turn=item.envelope.get("correlation_id"),
        action=item.request.action,
        resource=item.request.resource,
        blocked_by=list(item.verdict.reasons),
        policy_version=item.verdict.policy_version,
        constitution_hash=item.verdict.constitution_hash,
        age_s=round(age, 3),
        age=human_age(age),
        created_at=item.created_at,
        resolved_by=item.resolved_by,
        resolution_reason=item.resolution_reason,
        session_link=link(item.session_id, item.envelope.get("correlation_id")),
    )


def _turn_status(turn: str, row: q.TurnRow | None, stored: Sequence[StoredEvent]) -> str:
    if row is not None:
        return row.status
    for s in stored:
        if s.envelope.type == TURN_COMPLETED and s.envelope.correlation_id == turn:
            return "failed" if s.envelope.payload.get("status") == "error" else "completed"
    return "unknown"


def _profiles(stored: Sequence[StoredEvent]) -> dict[str, str]:
    return {
        str(s.envelope.correlation_id): str(s.envelope.payload.get("model_profile") or "")
        for s in stored
        if s.envelope.type == TURN_COMPLETED
    }


def turn_summaries(
    session_id: str, stored: Sequence[StoredEvent], rows: Sequence[q.TurnRow]
) -> list[TurnOut]:
    """The page's turns in order, then the session's open turns not on the page."""
    first: dict[str, int] = {}
    for s in stored:
        if s.envelope.correlation_id:
            first.setdefault(s.envelope.correlation_id, s.seq)
    by_id = {r.correlation_id: r for r in rows}
    profiles = _profiles(stored)
    order = list(first) + [r.correlation_id for r in rows if r.correlation_id not in first]
    return [
        TurnOut(
            correlation_id=turn,
            status=_turn_status(turn, by_id.get(turn), stored),
            attempt=by_id[turn].attempt if turn in by_id else 1,
            profile=profiles.get(turn) or None,
            first_seq=first.get(turn),
            link=link(session_id, turn),
        )
        for turn in order
    ]


def extra_items(
    items: Sequence[Item], rows: Sequence[q.TurnRow], requeue: Sequence[RequeueItem]
) -> list[Item]:
    """Restarts and requeue items of the page's turns, each placed in its turn."""
    first: dict[str, Item] = {}
    last: dict[str, Item] = {}
    for item in items:
        if item.turn:
            first.setdefault(item.turn, item)
            last[item.turn] = item
    extra = [
        Item(
            seq=first[r.correlation_id].seq,
            turn=r.correlation_id,
            kind="restart",
            at=r.updated_at.isoformat(),
            title=f"Restarted (attempt {r.attempt})",
            fields=[("attempt", str(r.attempt))],
        )
        for r in rows
        if r.attempt > 1 and r.correlation_id in first
    ]
    for it in requeue:
        turn = it.envelope.get("correlation_id")
        if turn in last:
            extra.append(
                Item(
                    seq=last[turn].seq,
                    turn=turn,
                    kind="requeue",
                    at=it.created_at.isoformat(),
                    title=f"Requeue item ({it.status})",
                    status=it.status,
                    fields=requeue_fields(it.model_dump(mode="json")),
                    key=f"requeue:{it.id}",
                )
            )
    return extra


async def timeline_page(
    runtime: Runtime, tenant_id: str, session_id: str, after: int, limit: int
) -> Timeline:
    """One page of a session's timeline: the events with seq > after, `limit` at most."""
    stored = await runtime.store.read_session(session_id, from_seq=after + 1, limit=limit)
    chain = await profile_info(PostgresModelProfileStore(runtime.pool), tenant_id)
    info = chain.info(stored)
    items = [i for s in stored for i in event_items(s, info)]
    turns = list(dict.fromkeys(s.envelope.correlation_id for s in stored))
    rows = await q.turn_rows(runtime.pool, session_id, [t for t in turns if t])
    requeue = await q.session_requeue(runtime.pool, tenant_id, session_id)
    items = sorted(items + extra_items(items, rows, requeue), key=lambda i: i.seq)
    return Timeline(
        session_id=session_id,
        items=items,
        turns=turn_summaries(session_id, stored, rows),
        next_after=stored[-1].seq if len(stored) == limit else None,
        last_seq=stored[-1].seq if stored else after,
        link=link(session_id),
    )


async def audit_trail(
    pool: asyncpg.Pool, records: Sequence[AuditRecord]
) -> tuple[list[dict[str, object]], str | None]:
    """The item's audit rows for display, and the first chain problem found (None: intact):
    each row's hash must recompute from its content and its prev_hash must be the hash of
    the row before it in the log."""
    trail: list[dict[str, object]] = []
    problem: str | None = None
    for r in records:
        before = await q.previous_hash(pool, r.seq) or GENESIS_HASH
        hash_ok = audit_hash(r.prev_hash, r.event) == r.hash
        link_ok = before == r.prev_hash
        if problem is None and not (hash_ok and link_ok):
            what = "its hash does not match its content" if not hash_ok else "its link is broken"
            problem = f"audit row {r.seq}: {what}"
        e = r.event
        trail.append(
            {
                "seq": r.seq,
                "at": e.occurred_at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "reason": visible(e.reason or ""),
                "hash": r.hash,
                "prev_hash": r.prev_hash,
                "hash_ok": hash_ok,
                "link_ok": link_ok,
            }
        )
    return trail, problem
