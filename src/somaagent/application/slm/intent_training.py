"""Train the intent classifier and choose its temperature and routing threshold.

The classifier learns from the persona's NLU examples plus the routing set's train part.
On the routing set's validation part it fits one temperature (calibrated confidences) and
the routing threshold: the highest routing recall whose precision meets PRECISION_TARGET.
Validation texts that also appear in the training examples are left out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from somaagent.application.slm.calibration import route_threshold
from somaagent.application.slm.classifiers import IntentClassifier
from somaagent.application.slm.evaluation import routed, routing_report
from somaagent.application.slm.features import rows_of
from somaagent.application.slm.folds import Fold
from somaagent.application.slm.nlu_data import NluData
from somaagent.application.slm.routing_set import RoutingItem, RoutingSet
from somaagent.domain.slm import Embedder

#: Routing precision aimed at on validation (the acceptance floor is 0.95).
PRECISION_TARGET = 0.97
#: Below this calibrated confidence the persona's intent is reported as out of scope.
DEFAULT_OOS_THRESHOLD = 0.25


def training_examples(nlu: NluData, routing: RoutingSet) -> tuple[list[str], list[str]]:
    """NLU examples and the routing set's train part, each text once."""
    texts: dict[str, str] = {e.text: e.intent for e in nlu.examples}
    for item in routing.part("train"):
        texts.setdefault(item.text, item.intent)
    return list(texts), list(texts.values())


def held_out(routing: RoutingSet, fold: Fold, seen: set[str]) -> list[RoutingItem]:
    """A held-out part of the routing set without texts the classifier trained on."""
    return [item for item in routing.part(fold) if item.text not in seen]


async def train_intent(
    nlu: NluData, routing: RoutingSet, tool_intents: dict[str, str], embedder: Embedder
) -> tuple[IntentClassifier, dict[str, Any]]:
    texts, labels = training_examples(nlu, routing)
    rows = rows_of(texts, await embedder.embed(texts))
    val = held_out(routing, "validation", set(texts))
    val_rows = rows_of([i.text for i in val], await embedder.embed([i.text for i in val]))
    clf = await asyncio.to_thread(IntentClassifier.fit, rows, labels, DEFAULT_OOS_THRESHOLD)
    clf.calibrate(val_rows, [i.intent for i in val])
    tools, conf = routed(clf, clf.probabilities(val_rows), tool_intents)
    clf.route_threshold = route_threshold(tools, conf, [i.tool for i in val], PRECISION_TARGET)
    figures = {
        "temperature": round(clf.temperature, 4),
        "route_threshold": clf.route_threshold,
        "precision_target": PRECISION_TARGET,
        "oos_threshold": clf.threshold,
        "n_train": len(texts),
        "validation": routing_report(clf, val_rows, val, tool_intents),
    }
    return clf, figures
