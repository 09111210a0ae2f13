"""Train a persona's SLM model: intent + slots from its NLU file, safety from injection data."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from somaagent.application.slm.artefacts import SlmModel, model_version
from somaagent.application.slm.classifiers import (
    IntentClassifier,
    SafetyClassifier,
    SlotTagger,
    as_matrix,
)
from somaagent.application.slm.embedding_cache import text_key
from somaagent.application.slm.nlu_data import NluData
from somaagent.domain.slm import Embedder

#: Below this top-class probability the persona's intent is reported as out of scope.
DEFAULT_OOS_THRESHOLD = 0.25


def subset(rows: Sequence[tuple[str, int]], limit: int | None) -> list[tuple[str, int]]:
    """A deterministic sample (by text hash) of at most `limit` rows, all when None."""
    if limit is None or limit >= len(rows):
        return list(rows)
    return sorted(rows, key=lambda r: text_key(r[0]))[:limit]


async def train_persona(
    nlu: NluData,
    safety_rows: Sequence[tuple[str, int]],
    safety_digest: str,
    embedder: Embedder,
    oos_threshold: float = DEFAULT_OOS_THRESHOLD,
) -> SlmModel:
    """Embed the examples (cached by the embedder), fit the three classifiers."""
    started = time.monotonic()
    texts = [e.text for e in nlu.examples]
    intent = await asyncio.to_thread(
        IntentClassifier.fit,
        as_matrix(await embedder.embed(texts)),
        [e.intent for e in nlu.examples],
        oos_threshold,
    )
    spans = [(e.text, [(s.name, s.start, s.end) for s in e.slots]) for e in nlu.examples]
    slots = await asyncio.to_thread(SlotTagger.fit, spans)
    safety = None
    if safety_rows:
        vectors = as_matrix(await embedder.embed([t for t, _ in safety_rows]))
        labels = [y for _, y in safety_rows]
        safety = await asyncio.to_thread(SafetyClassifier.fit, vectors, labels)
    version = model_version(nlu.digest, safety_digest, str(len(safety_rows)), str(oos_threshold))
    manifest = {
        "persona": nlu.persona,
        "nlu_sha256": nlu.digest,
        "intents": nlu.intents,
        "examples": len(nlu.examples),
        "safety_examples": len(safety_rows),
        "safety_data_sha256": safety_digest,
        "oos_threshold": oos_threshold,
        "train_seconds": round(time.monotonic() - started, 2),
    }
    return SlmModel(nlu.persona, version, intent, slots, safety, manifest)
