"""Before the model: rehydrate the session, pre-process the message, build the prompt."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Histogram

from somaagent.application.agent_loop import build_prompt
from somaagent.application.conversation.ports import PersonaCatalog
from somaagent.application.history import HistoryManager
from somaagent.application.sessions import SessionRepository
from somaagent.domain.history import Fitted
from somaagent.domain.session_state import SessionState
from somaagent.domain.slm import Preprocessor, SlmResult
from somaagent.domain.turn_state import TurnState

SLM_DURATION = Histogram(
    "slm_intent_duration_seconds",
    "Time the SLM pre-processing pipeline took for one message, by outcome and persona.",
    ["status", "persona"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


class TurnPreparer:
    def __init__(
        self,
        *,
        sessions: SessionRepository,
        history: HistoryManager,
        preprocessor: Preprocessor,
        personas: PersonaCatalog,
        budget_tokens: int,
    ) -> None:
        self._sessions = sessions
        self._history = history
        self._preprocessor = preprocessor
        self._personas = personas
        self._budget = budget_tokens

    async def prepare(self, state: TurnState) -> SlmResult:
        """Fill `state.prompt` and `state.slm` for the turn's first model call. The SLM
        reads the message while the session and its history are loaded (both are I/O)."""
        slm, fitted = await asyncio.gather(self._analyse(state), self._context(state))
        # the history manager's first message is the system prompt, the summary folded in
        system, *history = (m.model_dump(include={"role", "content"}) for m in fitted.messages)
        state.prompt = build_prompt(
            system_prompt=system["content"],
            summary=None,
            history=history,
            slm=slm,
            user_text=state.user_text,
        )
        state.slm = slm.model_dump(mode="json")
        return slm

    async def _analyse(self, state: TurnState) -> SlmResult:
        started = time.perf_counter()
        slm = await self._preprocessor.analyse(state.user_text)
        state.slm_s = time.perf_counter() - started
        outcome = "degraded" if slm.degraded else "ok"
        SLM_DURATION.labels(outcome, state.persona_id).observe(state.slm_s)
        return slm

    async def _context(self, state: TurnState) -> Fitted:
        session = await self._sessions.load(state.session_id) or SessionState(
            session_id=state.session_id,
            tenant_id=state.tenant_id,
            persona_id=state.persona_id,
        )
        persona = self._personas.get(state.persona_id)
        return await self._history.context(session, persona, budget=self._budget)
