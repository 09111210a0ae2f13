"""Figures of a trained model on held-out data: safety flags on both sides, routing.

Used by the trainer on validation data and by bench/slm.py on the test folds. Flags are
read from the tags the pipeline would attach (scores rounded as they are there).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from somaagent.application.slm.calibration import expected_calibration_error, precision_recall
from somaagent.application.slm.classifiers import IntentClassifier, SafetyClassifier
from somaagent.application.slm.features import Row
from somaagent.application.slm.routing_set import RoutingItem
from somaagent.application.slm.safety_data import SafetyExample
from somaagent.domain.slm import OUT_OF_SCOPE, SafetyTag


def _rate(flags: Sequence[bool]) -> float:
    return round(sum(flags) / max(1, len(flags)), 4)


def safety_report(
    clf: SafetyClassifier, rows: Sequence[Row], examples: Sequence[SafetyExample]
) -> dict[str, Any]:
    """Benign flag rate and injection recall at the flag and high thresholds, per source
    and (for injections) for neuralchemy's jailbreak category."""
    tags: list[SafetyTag] = [t[0] for t in clf.tags(rows)]
    benign = [(t, e) for t, e in zip(tags, examples, strict=True) if e.label == 0]
    attacks = [(t, e) for t, e in zip(tags, examples, strict=True) if e.label == 1]
    by_source: dict[str, list[bool]] = defaultdict(list)
    for tag, example in benign:
        by_source[example.source].append(tag.flagged)
    caught: dict[str, list[bool]] = defaultdict(list)
    for tag, example in attacks:
        caught[example.source].append(tag.flagged)
    return {
        "benign_flag_rate": _rate([t.flagged for t, _ in benign]),
        "injection_recall": _rate([t.flagged for t, _ in attacks]),
        "high_benign_flag_rate": _rate([t.high_risk for t, _ in benign]),
        "high_injection_recall": _rate([t.high_risk for t, _ in attacks]),
        "jailbreak_recall": _rate([t.flagged for t, e in attacks if e.category == "jailbreak"]),
        "benign_flag_rate_by_source": {s: _rate(f) for s, f in sorted(by_source.items())},
        "injection_recall_by_source": {s: _rate(f) for s, f in sorted(caught.items())},
        "n_benign": len(benign),
        "n_injections": len(attacks),
        "n_jailbreaks": sum(e.category == "jailbreak" for _, e in attacks),
    }


def routed(
    clf: IntentClassifier, probs: np.ndarray[Any, Any], tool_intents: dict[str, str]
) -> tuple[list[str | None], list[float]]:
    """The tool each message's top intent maps to (None for other intents), and the
    top intent's calibrated confidence."""
    classes = clf.classes
    return (
        [tool_intents.get(classes[int(k)]) for k in probs.argmax(axis=1)],
        [float(p) for p in probs.max(axis=1)],
    )


def routing_report(
    clf: IntentClassifier,
    rows: Sequence[Row],
    items: Sequence[RoutingItem],
    tool_intents: dict[str, str],
    flagged: Sequence[bool] | None = None,
) -> dict[str, float]:
    """Routing precision / recall at the model's threshold (a message routes to tool T when
    its top intent maps to T and its confidence reaches the threshold; with `flagged`, a
    flagged message never routes), intent accuracy and expected calibration error."""
    probs = clf.probabilities(rows)
    tools, conf = routed(clf, probs, tool_intents)
    threshold = clf.route_threshold if clf.route_threshold is not None else 1.0
    blocked = list(flagged) if flagged is not None else [False] * len(items)
    chosen = [
        t if c >= threshold and not b else None
        for t, c, b in zip(tools, conf, blocked, strict=True)
    ]
    precision, recall = precision_recall(chosen, [i.tool for i in items])
    tops = [clf.classes[int(k)] for k in probs.argmax(axis=1)]
    correct = [top == i.intent for top, i in zip(tops, items, strict=True)]
    return {
        "route_precision": round(precision, 4),
        "route_recall": round(recall, 4),
        "intent_accuracy": round(float(np.mean(correct)) if correct else 0.0, 4),
        "intent_ece": round(expected_calibration_error(conf, correct), 4),
        "n": len(items),
        "n_tool": sum(i.tool is not None for i in items),
    }


def out_of_scope_report(
    clf: IntentClassifier, rows: Sequence[Row], labels: Sequence[str]
) -> dict[str, float]:
    """Out-of-scope detection as the pipeline tags it: in-scope accuracy (right intent and
    not tagged out of scope) on messages labelled with an intent, out-of-scope recall on
    those labelled `out_of_scope`."""
    predicted = clf.predict(rows)
    inside = [
        p.name == y and not p.out_of_scope
        for p, y in zip(predicted, labels, strict=True)
        if y != OUT_OF_SCOPE
    ]
    caught = [p.out_of_scope for p, y in zip(predicted, labels, strict=True) if y == OUT_OF_SCOPE]
    return {
        "in_scope_accuracy": _rate(inside),
        "oos_recall": _rate(caught),
        "n_in_scope": len(inside),
        "n_oos": len(caught),
    }
