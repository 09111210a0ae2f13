"""The SLM pre-processing pipeline: one typed result per message, degraded not failed.

Slots come from a CPU-only tagger and always run; intent and safety need the message's
sentence embedding, fetched with a per-step timeout. When the embedding server is down or
too slow, the result lists `intent` and `safety` in `missing` and the turn goes on.
"""

from __future__ import annotations

import asyncio

import structlog

from somaagent.application.slm.artefacts import SlmModel
from somaagent.application.slm.classifiers import as_matrix
from somaagent.domain.errors import SomaError, ValidationError
from somaagent.domain.slm import Embedder, SafetyTag, SlmResult, SlmStep

log = structlog.get_logger(__name__)

#: Messages longer than this are cut before embedding (MiniLM reads 512 tokens at most).
MAX_EMBED_CHARS = 1500
MAX_TEXT_CHARS = 32_000


class SlmPipeline:
    """Intent, slots and safety tags from a trained SlmModel and a sentence embedder."""

    def __init__(self, model: SlmModel, embedder: Embedder, embed_timeout_s: float = 0.25) -> None:
        if embed_timeout_s <= 0:
            raise ValidationError("embed_timeout_s", "must be positive")
        self.model = model
        self.embedder = embedder
        self.embed_timeout_s = embed_timeout_s

    async def analyse(self, text: str) -> SlmResult:
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("text", "must be a non-empty string")
        if len(text) > MAX_TEXT_CHARS:
            raise ValidationError("text", f"longer than {MAX_TEXT_CHARS} characters")
        missing: list[SlmStep] = []
        slots = self.model.slots.slots(text)
        vector = await self._embed(text)
        if vector is None:
            missing.extend(["intent", "safety"])
            return SlmResult(slots=slots, missing=tuple(missing), model_version=self.model.version)
        matrix = as_matrix([vector])
        intent = self.model.intent.predict(matrix)[0]
        safety: tuple[SafetyTag, ...] = ()
        if self.model.safety is None:
            missing.append("safety")
        else:
            safety = self.model.safety.tags(matrix)[0]
        return SlmResult(
            intent=intent,
            slots=slots,
            safety=safety,
            missing=tuple(missing),
            model_version=self.model.version,
        )

    async def _embed(self, text: str) -> list[float] | None:
        try:
            vectors = await asyncio.wait_for(
                self.embedder.embed([text[:MAX_EMBED_CHARS]]), self.embed_timeout_s
            )
        except TimeoutError:
            log.warning("slm.embed.timeout", timeout_s=self.embed_timeout_s)
            return None
        except SomaError as exc:
            log.warning("slm.embed.failed", error=exc.message, retriable=exc.retriable)
            return None
        return vectors[0]
