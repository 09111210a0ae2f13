"""The SLM pre-processing pipeline: one typed result per message, degraded not failed.

Slots come from a CPU-only tagger and always run; intent and safety need the message's
sentence embedding, fetched with a per-step timeout. When the embedding server is down or
too slow, the result lists `intent` and `safety` in `missing` and the turn goes on.

Each stage's duration lands in the result's `timings` (seconds) and in the
`slm_stage_duration_seconds{stage}` histogram. The embedding request and the slot tagger
overlap, so the stages can add up to more than the whole.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from prometheus_client import Histogram

from somaagent.application.slm.artefacts import SlmModel
from somaagent.domain.errors import SomaError, ValidationError
from somaagent.domain.slm import Embedder, Intent, SafetyTag, SlmResult, SlmStep

log = structlog.get_logger(__name__)

#: Messages longer than this are cut before embedding (MiniLM reads 512 tokens at most).
MAX_EMBED_CHARS = 1500
MAX_TEXT_CHARS = 32_000

STAGE_SECONDS = Histogram(
    "slm_stage_duration_seconds",
    "Time one stage of the SLM pipeline took for one message (embed, intent, slots, safety).",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)


@contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = elapsed = time.perf_counter() - started
        STAGE_SECONDS.labels(stage).observe(elapsed)


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
        timings: dict[str, float] = {}
        # the embedding request is in flight while the CPU-only slot tagger runs
        embedding = asyncio.create_task(self._embed(text, timings))
        try:
            with timed(timings, "slots"):
                slots = self.model.slots.slots(text)
        finally:
            vector = await embedding
        intent: Intent | None = None
        safety: tuple[SafetyTag, ...] = ()
        missing: tuple[SlmStep, ...] = ("intent", "safety")
        if vector is not None:
            rows = [(text[:MAX_EMBED_CHARS], vector)]
            with timed(timings, "intent"):
                intent = self.model.intent.predict(rows)[0]
            missing = ("safety",)
            if classifiers := self.model.safety_classifiers():
                with timed(timings, "safety"):
                    safety = tuple(tag for c in classifiers for tag in c.tags(rows)[0])
                    missing = ()
        return SlmResult(
            intent=intent,
            slots=slots,
            safety=safety,
            missing=missing,
            model_version=self.model.version,
            route_threshold=self.model.intent.route_threshold,
            timings=timings,
        )

    async def _embed(self, text: str, timings: dict[str, float]) -> list[float] | None:
        try:
            with timed(timings, "embed"):
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # of the turn that lands as the embedding completes
                async with asyncio.timeout(self.embed_timeout_s):
                    vectors = await self.embedder.embed([text[:MAX_EMBED_CHARS]])
        except TimeoutError:
            log.warning("slm.embed.timeout", timeout_s=self.embed_timeout_s)
            return None
        except SomaError as exc:
            log.warning("slm.embed.failed", error=exc.message, retriable=exc.retriable)
            return None
        return vectors[0]
