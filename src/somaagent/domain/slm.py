"""What the small-model pre-processing step says about a user message.

One typed result per message: the intent (with confidence and an out-of-scope flag), the
slots with character spans, and safety tags (prompt injection / jailbreak, with a score and
the thresholds the trained model chose for its category). When a step could not run in
time (model server down or slow), the result says so in `missing` and the turn goes on
without that annotation. New fields have defaults, so results stored by older code load.
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
    """A category's score; `threshold` flags the message (chosen for a false-positive budget
    on benign traffic), `high_threshold` marks it high risk (a templated refusal)."""

    category: SafetyCategory
    score: float = Field(ge=0.0, le=1.0)
    #: The category's flag threshold, chosen on validation data for a benign-flag budget.
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    #: At or above this score the message is high risk (a templated refusal).
    high_threshold: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Self:
        if self.high_threshold < self.threshold:
            raise ValueError("high_threshold must not be below threshold")
        return self

    @property
    def flagged(self) -> bool:
        return self.score >= self.threshold

    @property
    def high_risk(self) -> bool:
        return self.score >= self.high_threshold


class SlmResult(_Frozen):
    """The pre-processing annotations of one message; `missing` names steps that did not run."""

    intent: Intent | None = None
    slots: tuple[Slot, ...] = ()
    safety: tuple[SafetyTag, ...] = ()
    missing: tuple[SlmStep, ...] = ()
    model_version: str = ""
    #: The routing threshold of the model that produced this result (None: the default).
    route_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Seconds each stage took (embed, intent, slots, safety); a stage that did not run is
    #: absent.
    timings: dict[str, float] = Field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        return bool(self.missing)

    def flagged(self) -> bool:
        """True when any safety tag scores at or above its category's threshold."""
        return any(tag.flagged for tag in self.safety)

    def high_risk(self) -> bool:
        """True when any safety tag scores at or above its high-risk threshold."""
        return any(tag.high_risk for tag in self.safety)


def slots_match_text(text: str, slots: tuple[Slot, ...]) -> bool:
    """Every slot's span lies in `text` and covers exactly its value."""
    return all(s.end <= len(text) and text[s.start : s.end] == s.value for s in slots)


class Preprocessor(Protocol):
    """Annotates one user message; never raises for a slow or absent model, degrades instead."""

    async def analyse(self, text: str) -> SlmResult: ...


class Embedder(Protocol):
    """Sentence embeddings, one vector per text, in order."""

    async def embed(self, texts: list[str]) -> list[list[float]]: ...
