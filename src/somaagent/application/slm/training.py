"""Train a persona's SLM model and choose its thresholds on validation data.

    intent  persona NLU examples + the routing set's train part; temperature and routing
            threshold fitted on the routing set's validation part
    slots   persona NLU examples (CRF)
    safety  injections against benign traffic (safety_data.py, train fold); the flag
            threshold keeps benign flags within FLAG_BUDGET on the validation fold, the
            high threshold sits above every benign validation score

The test folds are never read here: bench/slm.py reports on them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from somaagent.application.slm import safety_data
from somaagent.application.slm.artefacts import SlmModel, model_version
from somaagent.application.slm.calibration import budget_threshold
from somaagent.application.slm.classifiers import SafetyClassifier
from somaagent.application.slm.datasets import file_digest
from somaagent.application.slm.evaluation import safety_report
from somaagent.application.slm.features import Row, rows_of
from somaagent.application.slm.intent_training import train_intent
from somaagent.application.slm.nlu_data import NluData
from somaagent.application.slm.routing_set import RoutingSet
from somaagent.application.slm.safety_data import SafetyExample
from somaagent.application.slm.slots import SlotTagger
from somaagent.domain.slm import Embedder

#: Share of benign messages the safety flag may fire on (the acceptance budget).
FLAG_BUDGET = 0.01
#: The share aimed at on validation: under the budget by about two standard errors of a
#: 1% rate measured on ~1.6k benign validation messages, so held-out data stays within it.
FLAG_TARGET = 0.006
#: High risk: no benign validation message scores this high.
HIGH_BUDGET = 0.0
#: Weight of the persona's own messages (NLU and routing set) in safety training: they are
#: the traffic the flag must stay quiet on, e.g. "run this shell command" for code_execution.
PRODUCT_WEIGHT = 4.0


@dataclass(frozen=True)
class TrainingData:
    nlu: NluData
    routing: RoutingSet
    tool_intents: dict[str, str]
    safety_train: tuple[SafetyExample, ...]
    safety_validation: tuple[SafetyExample, ...]
    safety_digest: str


def load_training_data(
    nlu: NluData, routing: RoutingSet, tool_intents: dict[str, str], datasets: Path
) -> TrainingData:
    """The safety folds read from the shared datasets, with their digest."""
    return TrainingData(
        nlu=nlu,
        routing=routing,
        tool_intents=dict(tool_intents),
        safety_train=tuple(safety_data.safety_examples(datasets, "train", routing, nlu)),
        safety_validation=tuple(safety_data.safety_examples(datasets, "validation", routing)),
        safety_digest=file_digest(*safety_data.data_files(datasets)),
    )


async def embed_rows(embedder: Embedder, texts: Sequence[str]) -> list[Row]:
    return rows_of(texts, await embedder.embed(list(texts)))


def _weight(example: SafetyExample) -> float:
    return PRODUCT_WEIGHT if example.source in ("routing", "persona_nlu") else 1.0


def fit_safety(
    train: Sequence[tuple[Row, SafetyExample]], validation: Sequence[tuple[Row, SafetyExample]]
) -> tuple[SafetyClassifier, dict[str, Any]]:
    """Fit on train, choose both thresholds on validation; return validation figures."""
    clf = SafetyClassifier.fit(
        [r for r, _ in train], [e.label for _, e in train], [_weight(e) for _, e in train]
    )
    rows, examples = [r for r, _ in validation], [e for _, e in validation]
    scores = clf.scores(rows)
    benign = [s for s, e in zip(scores, examples, strict=True) if e.label == 0]
    clf.threshold = budget_threshold(benign, FLAG_TARGET)
    clf.high_threshold = max(clf.threshold, budget_threshold(benign, HIGH_BUDGET))
    report = safety_report(clf, rows, examples)
    figures = {
        "threshold": clf.threshold,
        "high_threshold": clf.high_threshold,
        "flag_budget": FLAG_BUDGET,
        "validation_target": FLAG_TARGET,
        "n_train": len(train),
        "validation": {k: v for k, v in report.items() if k != "benign_flag_rate_by_source"},
    }
    return clf, figures


async def _safety(
    data: TrainingData, embedder: Embedder
) -> tuple[SafetyClassifier, dict[str, Any]]:
    train = await embed_rows(embedder, [e.text for e in data.safety_train])
    validation = await embed_rows(embedder, [e.text for e in data.safety_validation])
    return await asyncio.to_thread(
        fit_safety,
        list(zip(train, data.safety_train, strict=True)),
        list(zip(validation, data.safety_validation, strict=True)),
    )


async def train_persona(data: TrainingData, embedder: Embedder) -> SlmModel:
    """Embed the examples (cached by the embedder), fit the classifiers, choose thresholds."""
    started = time.monotonic()
    intent, intent_figures = await train_intent(data.nlu, data.routing, data.tool_intents, embedder)
    spans = [(e.text, [(s.name, s.start, s.end) for s in e.slots]) for e in data.nlu.examples]
    slots = await asyncio.to_thread(SlotTagger.fit, spans)
    safety, safety_figures = await _safety(data, embedder)
    manifest = {
        "persona": data.nlu.persona,
        "nlu_sha256": data.nlu.digest,
        "routing_sha256": data.routing.digest,
        "safety_data_sha256": data.safety_digest,
        "intents": data.nlu.intents,
        "examples": len(data.nlu.examples),
        "intent": intent_figures,
        "safety": {safety.category: safety_figures},
        "jailbreak": "scored by the prompt_injection category (see docs/architecture.md)",
        "train_seconds": round(time.monotonic() - started, 2),
    }
    version = model_version(data.nlu.digest, data.routing.digest, data.safety_digest)
    return SlmModel(data.nlu.persona, version, intent, slots, safety, manifest)
