"""A turn's StreamUpdates as the text an OpenAI client reads (pure).

The platform runs its tools itself, so an OpenAI client never sees `tool_calls`: each tool
call reaches it as a block of the assistant's content, before the answer, e.g.

    > tool code_execution (ok, 0.04 s)
    > print(17 * 23)
    > output:
    > 391

A call held for an admin's review shows as one quoted line with the reason. The answer's
text follows. `AnswerFolder.fold` returns the text each update adds (what a streaming client
is sent) and keeps the whole content for a non-streaming answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from somaagent.domain.stream import TERMINAL, StreamUpdate
from somaagent.domain.tool_card import ToolCard


def quoted(lines: list[str]) -> str:
    return "".join(f"> {line}\n" if line else ">\n" for line in lines)


def render_card(card: ToolCard) -> str:
    """One tool call as a quoted block of content, ending in a blank line."""
    head = f"tool {card.tool} ({card.status}, {card.duration_s:.2f} s)"
    lines = [head, *card.arguments.splitlines()]
    if card.output:
        lines += ["output:", *card.output.splitlines()]
    if card.truncated:
        lines.append("(output cut)")
    lines += [f"file: {a.name} ({a.url})" for a in card.attachments]
    return quoted(lines) + "\n"


def render_hold(update: StreamUpdate) -> str:
    text = update.message or f"{update.tool} is held for an admin's review"
    return quoted([text]) + "\n"


@dataclass
class AnswerFolder:
    """Folds one turn's updates (any attempt order) into content; ends at a terminal one."""

    attempt: int = 1
    blocks: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    cards: set[str] = field(default_factory=set)
    #: The turn's tool cards, one per call, in the order they arrived.
    tool_cards: list[ToolCard] = field(default_factory=list)
    final: StreamUpdate | None = None

    def fold(self, update: StreamUpdate) -> str:
        """The content this update adds ("" for status lines and stale attempts)."""
        if update.attempt < self.attempt:
            return ""
        if update.attempt > self.attempt or update.status == "restarted":
            self.attempt = update.attempt
            self.text.clear()
        if update.status in TERMINAL:
            self.final = update
            return ""
        return self._content(update)

    def _content(self, update: StreamUpdate) -> str:
        if update.status == "streaming" and update.delta:
            self.text.append(update.delta)
            return update.delta
        if update.status == "tool_result" and update.card is not None:
            if update.card.request_id in self.cards:
                return ""
            self.cards.add(update.card.request_id)
            self.tool_cards.append(update.card)
            block = render_card(update.card)
        elif update.status == "waiting_for_policy":
            block = render_hold(update)
        else:
            return ""
        self.blocks.append(block)
        return block

    @property
    def done(self) -> bool:
        return self.final is not None

    def content(self) -> str:
        """The whole content: tool blocks, then the completed text (or the deltas so far)."""
        answer = self.final.text if self.final and self.final.text is not None else None
        return "".join(self.blocks) + (answer if answer is not None else "".join(self.text))
