"""What running a turn needs from the outside world, as Protocols."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from somaagent.application.agent_loop import ToolSpec
from somaagent.domain.events import Envelope
from somaagent.domain.llm import ChatModel
from somaagent.domain.policy import PolicyVerdict
from somaagent.domain.tools import ToolCall
from somaagent.domain.turn_state import Claim, TurnState
from somaagent.domain.turns import Persona


class TurnStateStore(Protocol):
    async def claim_inbound(self, fresh: TurnState) -> tuple[Claim, TurnState]: ...

    async def claim_result(
        self, correlation_id: str, request_id: str, event_id: str
    ) -> tuple[Claim, TurnState | None]: ...

    async def save(self, state: TurnState, *, conn: Any = None) -> None: ...

    async def claim_expired(self, conn: Any, now: datetime, limit: int = 50) -> list[TurnState]: ...


class Transactions(Protocol):
    """Opens one database transaction and yields its connection."""

    def __call__(self) -> AbstractAsyncContextManager[Any]: ...


class ModelSelector(Protocol):
    """The dialogue model for a tenant (or the dialogue profile a message asked for): the
    profile with the fallback chain behind it."""

    async def dialogue(self, tenant_id: str, requested: str | None = None) -> ChatModel: ...


class ToolCatalog(Protocol):
    def specs(self, names: list[str]) -> list[ToolSpec]: ...


class PersonaCatalog(Protocol):
    def get(self, persona_id: str) -> Persona: ...


class ToolGate(Protocol):
    """Policy check of a tool request; a denial is published and queued for an admin."""

    async def check_tool_request(
        self, call: ToolCall, envelope: Envelope, topic: str
    ) -> PolicyVerdict:
        """Allow, or deny: then `envelope` waits in the requeue store for `topic`."""
        ...
