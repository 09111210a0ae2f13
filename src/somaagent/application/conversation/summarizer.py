"""The running summary, written by the summarizer model profile through the ChatModel port."""

from __future__ import annotations

from collections.abc import Sequence

from somaagent.domain.errors import ModelError
from somaagent.domain.llm import ChatModel, ChatRequest
from somaagent.domain.session_state import RecentTurn

INSTRUCTION = (
    "Update the running summary of a conversation. Keep facts, names, numbers, decisions and "
    "open questions; drop pleasantries. Reply with the summary only, in a few sentences."
)


class LlmSummarizer:
    def __init__(self, model: ChatModel) -> None:
        self._model = model

    async def summarize(
        self, previous: str | None, turns: Sequence[RecentTurn], *, max_tokens: int
    ) -> str:
        lines = [f"Previous summary: {previous}"] if previous else []
        for turn in turns:
            lines.append(f"User: {turn.user_message}")
            lines.append(f"Assistant: {turn.assistant_message}")
        result = await self._model.complete(
            ChatRequest(
                messages=[
                    {"role": "system", "content": INSTRUCTION},
                    {"role": "user", "content": "\n".join(lines)},
                ],
                max_tokens=max_tokens,
                temperature=0.0,
            )
        )
        text = result.text.strip()
        if not text:
            raise ModelError(f"the summarizer model ({result.profile}) returned no text")
        return text
