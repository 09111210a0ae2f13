"""What the small-model pre-processing step says about a user message.

One typed result per message: the intent (with confidence and an out-of-scope flag), the
slots with character spans, and safety tags (prompt injection / jailbreak, with a score).
When a step could not run in time (model server down or slow), the result says so in
`missing` and the turn goes on without that annotation.
"""

from __future__ import annotations

from typing import Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

SlmStep = Literal["intent", "slots", "safety"]
ALL_STEPS: tuple[SlmStep, ...] = ("intent", "slots", "safety")
SafetyCategory = Literal["prompt_injection", "jailbreak"]
#: The intent name used for messages outside the persona's intents.
OUT_OF_SCOPE = "out_of_scope"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Intent(_Frozen):
    name: str = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)
    out_of_scope: bool = False


class Slot(_Frozen):
    name: str = Field(min_length=1)
    value: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _span_in_order(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be greater than start ({self.start})")
        if len(self.value) != self.end - self.start:
            raise ValueError("value length must equal end - start")
        return self


class SafetyTag(_Frozen):
    category: SafetyCategory
    score: float = Field(ge=0.0, le=1.0)


class SlmResult(_Frozen):
    """The pre-processing annotations of one message; `missing` names steps that did not run."""

    intent: Intent | None = None
    slots: tuple[Slot, ...] = ()
    safety: tuple[SafetyTag, ...] = ()
    missing: tuple[SlmStep, ...] = ()
    model_version: str = ""

    @property
    def degraded(self) -> bool:
        return bool(self.missing)

    def flagged(self, threshold: float = 0.5) -> bool:
        """True when any safety tag scores at or above the threshold."""
        return any(tag.score >= threshold for tag in self.safety)


def slots_match_text(text: str, slots: tuple[Slot, ...]) -> bool:
    """Every slot's span lies in `text` and covers exactly its value."""
    return all(s.end <= len(text) and text[s.start : s.end] == s.value for s in slots)


class Preprocessor(Protocol):
    """Annotates one user message; never raises for a slow or absent model, degrades instead."""

    async def analyse(self, text: str) -> SlmResult: ...


class Embedder(Protocol):
    """Sentence embeddings, one vector per text, in order."""

    async def embed(self, texts: list[str]) -> list[list[float]]: ...
