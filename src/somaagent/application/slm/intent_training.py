"""Train the intent classifier and choose its temperature and routing threshold.

The classifier learns from the persona's NLU examples plus the routing set's train part.
On the routing set's validation part it fits one temperature (calibrated confidences), the
routing threshold (the highest routing recall whose precision meets PRECISION_TARGET) and
the out-of-scope rule's threshold (ood.InScopeRule: confidence + mean cosine to the
NEIGHBOURS closest in-scope training sentences; at most OOS_MAX_LOSS of the correctly
answered in-scope validation messages fall under it). Validation texts that also appear
in the training examples are left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from somaagent.application.slm.calibration import route_threshold
from somaagent.application.slm.classifiers import IntentClassifier
from somaagent.application.slm.evaluation import out_of_scope_report, routed, routing_report
from somaagent.application.slm.features import Row, rows_of, vectors_of
from somaagent.application.slm.folds import Fold
from somaagent.application.slm.nlu_data import NluData
from somaagent.application.slm.ood import InScopeRule, NeighbourScore, loss_threshold
from somaagent.application.slm.routing_set import RoutingItem, RoutingSet
from somaagent.domain.slm import OUT_OF_SCOPE, Embedder

#: Routing precision aimed at on validation (the acceptance floor is 0.95).
PRECISION_TARGET = 0.97
#: Below this calibrated confidence the intent is out of scope (models without a rule).
DEFAULT_OOS_THRESHOLD = 0.25
#: Training sentences the in-scope score averages over (as measured on CLINC150).
NEIGHBOURS = 5
#: Share of correctly answered in-scope validation messages the out-of-scope rule may
#: reject (bench/slm_accuracy.py applies the same budget on CLINC150).
OOS_MAX_LOSS = 0.004


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
    before = out_of_scope_report(replace(clf, in_scope=None), val_rows, [i.intent for i in val])
    clf.in_scope = fit_in_scope(clf, rows, labels, val_rows, [i.intent for i in val])
    figures = {
        "temperature": round(clf.temperature, 4),
        "route_threshold": clf.route_threshold,
        "precision_target": PRECISION_TARGET,
        "oos_threshold": clf.threshold,
        "in_scope_threshold": round(clf.in_scope.threshold, 4),
        "in_scope_neighbours": NEIGHBOURS,
        "oos_max_loss": OOS_MAX_LOSS,
        "n_train": len(texts),
        "validation": routing_report(clf, val_rows, val, tool_intents),
        "validation_oos": out_of_scope_report(clf, val_rows, [i.intent for i in val]),
        "validation_oos_softmax_only": before,
    }
    return clf, figures


def fit_in_scope(
    clf: IntentClassifier,
    rows: Sequence[Row],
    labels: Sequence[str],
    val_rows: Sequence[Row],
    val_labels: Sequence[str],
) -> InScopeRule:
    """The out-of-scope rule over the in-scope training sentences, its threshold chosen on
    the validation rows the classifier answers correctly."""
    inside = [row for row, label in zip(rows, labels, strict=True) if label != OUT_OF_SCOPE]
    rule = InScopeRule(NeighbourScore(vectors_of(inside), k=NEIGHBOURS))
    probs = clf.probabilities(val_rows)
    tops = [clf.classes[int(k)] for k in probs.argmax(axis=1)]
    correct = np.array(
        [t == y != OUT_OF_SCOPE for t, y in zip(tops, val_labels, strict=True)], dtype=bool
    )
    scores = rule.scores(probs.max(axis=1), vectors_of(val_rows))
    rule.threshold = loss_threshold(scores[correct], OOS_MAX_LOSS)
    return rule
