"""Train a persona's SLM model and choose its thresholds on validation data.

    intent  persona NLU examples + the routing set's train part; temperature and routing
            threshold fitted on the routing set's validation part
    slots   persona NLU examples (CRF)
    safety  one classifier per category on the same folds (safety_data.py):
            prompt_injection every injection against benign traffic, jailbreak
            neuralchemy's jailbreak-like categories against benign traffic; each flag
            threshold keeps benign flags within FLAG_BUDGET on the validation fold, each
            high threshold lets at most HIGH_BUDGET of benign validation messages through

The test folds are never read here: bench/slm.py reports on them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
from somaagent.application.slm.safety_data import JAILBREAK_CATEGORIES, SafetyExample
from somaagent.application.slm.slots import SlotTagger
from somaagent.domain.slm import Embedder, SafetyCategory

#: Share of benign messages the safety flag may fire on (the acceptance budget).
FLAG_BUDGET = 0.01
#: The share aimed at on validation: under the budget by about two standard errors of a
#: 1% rate measured on ~1.6k benign validation messages, so held-out data stays within it.
FLAG_TARGET = 0.006
#: High risk (a templated refusal): at most 1 in 1,000 benign validation messages scores
#: this high (0 put the threshold at 1.0 once s-labs' hard benign rows joined validation).
HIGH_BUDGET = 0.001
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


def jailbreak_examples(examples: Sequence[SafetyExample]) -> list[SafetyExample]:
    """The `jailbreak` category's data: its attacks against benign traffic (other
    injections are left out: they are neither a jailbreak nor benign)."""
    return [
        replace(e, label=int(e.category in JAILBREAK_CATEGORIES))
        for e in examples
        if e.label == 0 or e.category in JAILBREAK_CATEGORIES
    ]


def fit_safety(
    train: Sequence[tuple[Row, SafetyExample]],
    validation: Sequence[tuple[Row, SafetyExample]],
    category: SafetyCategory = "prompt_injection",
) -> tuple[SafetyClassifier, dict[str, Any]]:
    """Fit on train, choose both thresholds on validation; return validation figures."""
    clf = SafetyClassifier.fit(
        [r for r, _ in train], [e.label for _, e in train], [_weight(e) for _, e in train]
    )
    clf.category = category
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
) -> tuple[dict[SafetyCategory, SafetyClassifier], dict[str, Any]]:
    """One classifier per safety category, each on its own labels of the same rows."""
    train = await embed_rows(embedder, [e.text for e in data.safety_train])
    validation = await embed_rows(embedder, [e.text for e in data.safety_validation])
    by_text = dict(zip([e.text for e in data.safety_train], train, strict=True))
    by_text.update(zip([e.text for e in data.safety_validation], validation, strict=True))
    parts: dict[SafetyCategory, tuple[list[SafetyExample], list[SafetyExample]]] = {
        "prompt_injection": (list(data.safety_train), list(data.safety_validation)),
        "jailbreak": (
            jailbreak_examples(data.safety_train),
            jailbreak_examples(data.safety_validation),
        ),
    }
    classifiers: dict[SafetyCategory, SafetyClassifier] = {}
    figures: dict[str, Any] = {}
    for category, (fit_on, choose_on) in parts.items():
        classifiers[category], figures[category] = await asyncio.to_thread(
            fit_safety,
            [(by_text[e.text], e) for e in fit_on],
            [(by_text[e.text], e) for e in choose_on],
            category,
        )
    return classifiers, figures


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
        "safety": safety_figures,
        "train_seconds": round(time.monotonic() - started, 2),
    }
    version = model_version(data.nlu.digest, data.routing.digest, data.safety_digest)
    return SlmModel(
        data.nlu.persona,
        version,
        intent,
        slots,
        safety["prompt_injection"],
        manifest,
        jailbreak=safety["jailbreak"],
    )
