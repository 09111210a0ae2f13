"""One agent turn for an MCP client: the OpenAI facade's road, answered as a tool result.

The message goes to conversation.inbound and the turn's StreamUpdates come back through the
gateway's outbound fan-out, exactly as for `POST /v1/chat/completions` (openai_turns.TurnWatch,
openai_sessions.open_session, the tenant limits of openai_limits). What differs is only the
shape of the answer: a TurnAnswer (the reply and one ToolCard per tool call) as structured
content, and the text an OpenAI client reads (tool blocks, then the reply) as text content.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from somaagent.adapters.postgres.sessions import SessionRow
from somaagent.domain.errors import SomaError
from somaagent.domain.events import new_id
from somaagent.domain.tool_card import ToolCard
from somaagent.services.gateway.auth import Principal
from somaagent.services.gateway.openai_limits import admit, take_slot
from somaagent.services.gateway.openai_schema import OpenAiError
from somaagent.services.gateway.openai_sessions import open_session
from somaagent.services.gateway.openai_stream import AnswerFolder
from somaagent.services.gateway.openai_turns import TurnWatch
from somaagent.services.gateway.runtime import Runtime


class TurnAnswer(BaseModel):
    """What one turn gave back: the session to continue, the reply, the tool calls."""

    session_id: str = Field(description="pass it back as session_id to continue this session")
    turn_id: str = Field(description="the turn's correlation id (the console's turn link)")
    persona: str
    reply: str
    tool_cards: list[ToolCard] = Field(
        default_factory=list,
        description="one per tool call: tool, status, duration, argument, output head, files",
    )
    #: Token counts of every model call of the turn.
    usage: dict[str, int] = Field(default_factory=dict)


class TurnRefused(Exception):
    """The turn could not run or failed; the message says why (it becomes an MCP tool error)."""


async def _session(
    runtime: Runtime, who: Principal, persona: str | None, session_id: str | None
) -> SessionRow:
    """The caller's session to continue (the session routes' access rule) or a new one."""
    if session_id is None:
        return await open_session(runtime, who, None, persona or "default")
    session = await open_session(runtime, who, session_id)
    if persona is not None and persona != session.persona_id:
        raise TurnRefused(
            f"session {session_id} belongs to persona {session.persona_id!r}, not {persona!r}"
        )
    return session


async def run_turn(
    runtime: Runtime, who: Principal, text: str, persona: str | None, session_id: str | None
) -> tuple[TurnAnswer, str]:
    """Run one turn and wait for its end: (the answer, the text an OpenAI client reads).

    TurnRefused for a refusal (unknown session, a tenant limit, a timeout) or a failed turn.
    """
    try:
        await admit(runtime, who.tenant_id)
        session = await _session(runtime, who, persona, session_id)
        slot = await take_slot(runtime, who.tenant_id, new_id())
        try:
            return await _watch(runtime, who, session, slot.turn_id, text)
        finally:
            await slot.release()
    except OpenAiError as exc:
        raise TurnRefused(f"{exc.code}: {exc.message}") from exc
    except SomaError as exc:  # a backend that did not answer
        raise TurnRefused(exc.message) from exc


async def _watch(
    runtime: Runtime, who: Principal, session: SessionRow, turn_id: str, text: str
) -> tuple[TurnAnswer, str]:
    watch = TurnWatch(runtime, session, turn_id)
    await watch.start(who, text, None)
    folder = AnswerFolder()
    try:
        async for update in watch.updates():
            folder.fold(update)
    finally:
        watch.close()
    final = folder.final
    assert final is not None
    if final.status == "error":
        reason = final.reason or "the turn failed"
        raise TurnRefused(f"turn {turn_id} of session {session.session_id} failed: {reason}")
    answer = TurnAnswer(
        session_id=session.session_id,
        turn_id=turn_id,
        persona=session.persona_id,
        reply=final.text if final.text is not None else "".join(folder.text),
        tool_cards=folder.tool_cards,
        usage=final.usage or {},
    )
    return answer, folder.content()
