"""A chat model that walks a profile's fallback chain.

Each profile is tried in order; one that is down or overloaded (connection refused, 429/503,
no first token in time) is skipped and the next one asked. Once a profile has streamed a
token it owns the answer: a failure after that is raised, never papered over by another
model. The ChatResult names the profile that answered and the ones skipped.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

import httpx
import structlog

from somaagent.adapters.llm.openai_chat import RETRIABLE_BEFORE_FIRST_TOKEN, OpenAIChatModel
from somaagent.domain.errors import BackendError, BackendUnavailableError, ValidationError
from somaagent.domain.llm import ChatDelta, ChatModel, ChatRequest, ChatResult, ModelProfile
from somaagent.settings import LlmSettings

log = structlog.get_logger(__name__)


class FallbackChatModel:
    """Tries `models` in order; the first is the preferred profile."""

    def __init__(self, models: Sequence[ChatModel]) -> None:
        if not models:
            raise ValidationError("models", "a fallback chain needs at least one model")
        self._models = tuple(models)

    @property
    def profile_name(self) -> str:
        return self._models[0].profile_name

    @property
    def chain(self) -> tuple[str, ...]:
        return tuple(m.profile_name for m in self._models)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta | ChatResult, None]:
        skipped: list[str] = []
        errors: list[str] = []
        for model in self._models:
            streamed = False
            try:
                async with aclosing(model.stream(request)) as items:
                    async for item in items:
                        if isinstance(item, ChatResult):
                            yield item.model_copy(update={"skipped_profiles": tuple(skipped)})
                            return
                        streamed = True
                        yield item
            except RETRIABLE_BEFORE_FIRST_TOKEN as exc:
                if streamed:
                    raise
                self._skip(model.profile_name, exc, skipped, errors)
        raise self._exhausted(errors)

    async def complete(self, request: ChatRequest) -> ChatResult:
        skipped: list[str] = []
        errors: list[str] = []
        for model in self._models:
            try:
                result = await model.complete(request)
            except RETRIABLE_BEFORE_FIRST_TOKEN as exc:
                self._skip(model.profile_name, exc, skipped, errors)
                continue
            return result.model_copy(update={"skipped_profiles": tuple(skipped)})
        raise self._exhausted(errors)

    @staticmethod
    def _skip(name: str, exc: BackendError, skipped: list[str], errors: list[str]) -> None:
        log.warning("llm.profile.skipped", profile=name, reason=exc.message)
        skipped.append(name)
        errors.append(f"{name}: {exc.message}")

    def _exhausted(self, errors: list[str]) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"every profile in the chain {' -> '.join(self.chain)} failed: " + "; ".join(errors)
        )


def chain_model(
    chain: Sequence[ModelProfile], client: httpx.AsyncClient, settings: LlmSettings
) -> FallbackChatModel:
    """A chat model for a selected chain (see application.model_profiles.select)."""
    return FallbackChatModel([OpenAIChatModel(p, client, settings) for p in chain])
