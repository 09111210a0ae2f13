"""Pure history logic: fit messages to a token budget, choose turns to summarise.

Token counts come from outside (a TokenCounter port); nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from somaagent.domain.errors import ValidationError
from somaagent.domain.event_types import SUMMARY_CREATED, SummaryCreated, make_event
from somaagent.domain.events import Envelope
from somaagent.domain.session_state import RecentTurn, SessionState
from somaagent.domain.turns import Message


@dataclass(frozen=True)
class Fitted:
    """The messages kept, their total cost and how many older ones were dropped."""

    messages: list[Message]
    tokens: int
    dropped: int


def fit_to_budget(
    fixed: Sequence[Message],
    fixed_costs: Sequence[int],
    history: Sequence[Message],
    history_costs: Sequence[int],
    budget: int,
) -> Fitted:
    """`fixed` (system prompt, summary) always, then the newest history that fits.

    Costs are per message, template overhead included. Older messages go first; a kept
    history never starts with an assistant or tool message cut off from its question.
    """
    if budget <= 0:
        raise ValidationError("budget", "must be a positive number of tokens")
    if len(fixed) != len(fixed_costs) or len(history) != len(history_costs):
        raise ValidationError("costs", "one cost per message")
    used = sum(fixed_costs)
    if used > budget:
        raise ValidationError("budget", f"{budget} tokens cannot hold the fixed prompt ({used})")
    start = len(history)
    while start > 0 and used + history_costs[start - 1] <= budget:
        start -= 1
        used += history_costs[start]
    while start < len(history) and history[start].role in ("assistant", "tool"):
        used -= history_costs[start]
        start += 1
    return Fitted([*fixed, *history[start:]], used, start)


def turns_to_summarize(state: SessionState, *, keep_last: int, min_batch: int) -> list[RecentTurn]:
    """Unsummarised turns older than the last `keep_last`, once there are `min_batch`."""
    if keep_last < 0 or min_batch < 1:
        raise ValidationError("keep_last", "keep_last >= 0 and min_batch >= 1")
    pending = state.unsummarized_turns()
    older = pending[: max(len(pending) - keep_last, 0)]
    return older if len(older) >= min_batch else []


def summary_event(
    state: SessionState, summary: str, turns: Sequence[RecentTurn], *, model: str = ""
) -> Envelope:
    """The conversation.summary.created event covering `turns` (in seq order)."""
    if not turns:
        raise ValidationError("turns", "a summary covers at least one turn")
    body = SummaryCreated(
        summary=summary.strip() or "(empty)",
        through_seq=turns[-1].seq,
        turns_summarized=len(turns),
        model=model,
    )
    return make_event(
        SUMMARY_CREATED,
        body,
        session_id=state.session_id,
        tenant_id=state.tenant_id,
        persona_id=state.persona_id,
    )
