"""The history manager: the context a model sees, within a token budget.

    manager = HistoryManager(LlamaTokenCounter(base_url), summarizer)
    fitted = await manager.context(state, persona, budget=2048)
    event = await manager.summarize_if_due(state)    # -> commit it like any event

The summary is an event (conversation.summary.created), so replaying a session
reproduces the summary the model saw. Rebuilding state itself is
`somaagent.domain.session_state.replay`.
"""

from __future__ import annotations

from typing import Final

import structlog

from somaagent.domain.events import Envelope
from somaagent.domain.history import Fitted, fit_to_budget, summary_event, turns_to_summarize
from somaagent.domain.session_ports import Summarizer, TokenCounter
from somaagent.domain.session_state import SessionState
from somaagent.domain.turns import Message, Persona

#: Tokens a chat template adds around each message (Qwen: <|im_start|>role\n ... <|im_end|>\n).
MESSAGE_OVERHEAD: Final = 5

log = structlog.get_logger(__name__)


def fixed_messages(state: SessionState, persona: Persona) -> list[Message]:
    """The system prompt, with the running summary when there is one."""
    system = persona.system_prompt
    if state.summary:
        system += f"\n\nEarlier in this conversation: {state.summary}"
    return [Message(role="system", content=system)]


class HistoryManager:
    def __init__(
        self,
        counter: TokenCounter,
        summarizer: Summarizer | None = None,
        *,
        keep_last: int = 4,
        summarize_batch: int = 8,
        summary_max_tokens: int = 160,
        message_overhead: int = MESSAGE_OVERHEAD,
    ) -> None:
        self._counter = counter
        self._summarizer = summarizer
        self._keep_last = keep_last
        self._batch = summarize_batch
        self._summary_max_tokens = summary_max_tokens
        self._overhead = message_overhead

    async def context(
        self,
        state: SessionState,
        persona: Persona,
        *,
        budget: int,
        extra: list[Message] | None = None,
    ) -> Fitted:
        """System prompt + summary, then as many recent messages as fit in `budget`."""
        fixed = fixed_messages(state, persona)
        history = [*state.messages(), *(extra or [])]
        counts = await self._counter.count([m.content for m in [*fixed, *history]])
        costs = [c + self._overhead for c in counts]
        fitted = fit_to_budget(fixed, costs[: len(fixed)], history, costs[len(fixed) :], budget)
        if fitted.dropped:
            log.info(
                "history.truncated",
                session_id=state.session_id,
                dropped=fitted.dropped,
                tokens=fitted.tokens,
                budget=budget,
            )
        return fitted

    async def summarize_if_due(self, state: SessionState, *, model: str = "") -> Envelope | None:
        """A summary event for older unsummarised turns, or None when none is due."""
        if self._summarizer is None:
            return None
        turns = turns_to_summarize(state, keep_last=self._keep_last, min_batch=self._batch)
        if not turns:
            return None
        text = await self._summarizer.summarize(
            state.summary, turns, max_tokens=self._summary_max_tokens
        )
        return summary_event(state, text, turns, model=model)
