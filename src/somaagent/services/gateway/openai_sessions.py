"""Which session an OpenAI request continues, and whether its question was answered already.

An OpenAI client resends the whole conversation each time. The session is named by the
`X-Soma-Session` header (404 when unknown or another tenant's); without it a new session
is created and named in the response's `X-Soma-Session` header. Nothing the client resends
is published again: only the trailing user message can start a turn, and the model reads
the session's own history, not the client's copy.

A resend of a question the session already answered (its user messages are exactly the
session's first K user messages, the K-th answered) is not run again: the stored answer is
returned, as a client retrying after a lost response expects. Any other request starts a
turn with its trailing user message. While that turn runs, the same request again is
refused with 409 (openai_limits), so a client's retry never starts a second turn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import orjson

from somaagent.adapters.postgres.sessions import SessionRow
from somaagent.domain.errors import NotFoundError
from somaagent.domain.event_types import (
    SESSION_CREATED,
    TURN_COMPLETED,
    SessionCreated,
    make_event,
)
from somaagent.domain.events import new_id
from somaagent.domain.serialization import payload_as
from somaagent.domain.tool_card import tool_card
from somaagent.domain.turns import ConversationTurn
from somaagent.services.gateway.auth import Principal
from somaagent.services.gateway.openai_schema import OpenAiError
from somaagent.services.gateway.openai_stream import render_card
from somaagent.services.gateway.routes_sessions import owned_session
from somaagent.services.gateway.runtime import Runtime

SESSION_HEADER = "X-Soma-Session"
TURN_HEADER = "X-Soma-Turn"
PAGE = 500


async def open_session(
    runtime: Runtime, who: Principal, session_id: str | None, persona_id: str = "default"
) -> SessionRow:
    """The named session (the caller's own, or any of the tenant's for a tenant admin: the
    access check of the session routes), or a new one of `persona_id` owned by the caller."""
    if session_id is not None:
        try:
            return await owned_session(runtime, who, session_id)
        except NotFoundError:
            raise OpenAiError(
                404,
                "not_found_error",
                "session_not_found",
                f"no session {session_id!r} of yours in this tenant",
                SESSION_HEADER,
            ) from None
    event = make_event(
        SESSION_CREATED,
        SessionCreated(title=None),
        session_id=new_id(),
        tenant_id=who.tenant_id,
        persona_id=persona_id,
    )
    return await runtime.sessions.open(runtime.store, event, who.subject)


async def session_turns(runtime: Runtime, session_id: str) -> list[ConversationTurn]:
    """Every finished turn of the session (completed or failed), in order."""
    turns: list[ConversationTurn] = []
    after = 0
    while True:
        page = await runtime.store.read_session(session_id, from_seq=after + 1, limit=PAGE)
        turns += [
            payload_as(s.envelope, ConversationTurn)
            for s in page
            if s.envelope.type == TURN_COMPLETED
        ]
        if len(page) < PAGE:
            return turns
        after = page[-1].seq


def answered(turns: Sequence[ConversationTurn], users: Sequence[str]) -> ConversationTurn | None:
    """The stored turn that answered this exact resend, if the session holds one (pure)."""
    k = len(users)
    if k > len(turns):
        return None
    if [t.user_message for t in turns[:k]] != list(users):
        return None
    turn = turns[k - 1]
    return turn if turn.status == "completed" else None


def resend_mark(session_id: str, users: Sequence[str]) -> str:
    """The name of this exact request to this session (its user messages), for marking
    its turn as running (pure)."""
    digest = hashlib.sha256(orjson.dumps(list(users))).hexdigest()[:32]
    return f"{session_id}:{digest}"


def replayed_content(turn: ConversationTurn) -> str:
    """The content a client was sent for the turn: its tool blocks, then the answer."""
    calls = {c.request_id: c for c in turn.tool_calls}
    blocks = [
        render_card(tool_card(calls[r.request_id], r))
        for r in turn.tool_results
        if r.request_id in calls
    ]
    return "".join(blocks) + turn.assistant_message
