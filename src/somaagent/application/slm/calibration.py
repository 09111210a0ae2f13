"""Confidences that mean what they say, and thresholds chosen on validation data.

Pure numpy: temperature scaling of a classifier's logits (one scalar fitted by negative
log-likelihood on validation), expected calibration error, and the threshold rules the
trainer applies (a false-positive budget for safety flags, a precision target for routing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[np.float64]]

#: Temperatures tried when fitting (log-spaced); 1.0 leaves the logits as they are.
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(10.0), 241))
#: Routing thresholds tried on validation.
ROUTE_GRID = np.round(np.arange(0.30, 0.96, 0.01), 2)


def softmax(logits: Array) -> Array:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)


def fit_temperature(logits: Array, gold: Sequence[int]) -> float:
    """The temperature with the lowest negative log-likelihood of the gold classes."""
    rows = np.arange(len(gold))
    idx = np.asarray(gold)

    def nll(t: float) -> float:
        return float(-np.log(softmax(logits / t)[rows, idx] + 1e-12).mean())

    return float(min(TEMPERATURES, key=nll))


def expected_calibration_error(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by count."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    if conf.size == 0:
        return 0.0
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() / conf.size * abs(hit[mask].mean() - conf[mask].mean())
    return float(total)


def budget_threshold(benign_scores: Sequence[float], budget: float, decimals: int = 4) -> float:
    """The lowest threshold (with `decimals` places) that flags at most `budget` of the
    benign scores once they are rounded to `decimals` places, as safety tags carry them."""
    scale = 10.0**decimals
    units = sorted((round(s * scale) for s in benign_scores), reverse=True)
    allowed = int(np.floor(budget * len(units)))
    if allowed >= len(units):
        return 0.0
    return min(1.0, (units[allowed] + 1) / scale)


def precision_recall(
    predicted: Sequence[str | None], gold: Sequence[str | None]
) -> tuple[float, float]:
    """Routing precision and recall: a prediction is a tool name or None (no tool)."""
    hits = sum(p is not None and p == g for p, g in zip(predicted, gold, strict=True))
    made = sum(p is not None for p in predicted)
    wanted = sum(g is not None for g in gold)
    return hits / max(1, made), hits / max(1, wanted)


def route_threshold(
    tools: Sequence[str | None],
    confidence: Sequence[float],
    gold: Sequence[str | None],
    precision_target: float,
) -> float:
    """The routing threshold for validation data: the highest recall whose precision meets
    the target (the middle of the thresholds that tie), else the best F1."""
    curve = []
    for t in ROUTE_GRID:
        predicted = [tool if c >= t else None for tool, c in zip(tools, confidence, strict=True)]
        curve.append((float(t), *precision_recall(predicted, gold)))
    ok = [(t, r) for t, p, r in curve if p >= precision_target]
    if not ok:
        return max(curve, key=lambda c: 2 * c[1] * c[2] / max(1e-9, c[1] + c[2]))[0]
    best = max(r for _, r in ok)
    ties = [t for t, r in ok if r == best]
    return round((min(ties) + max(ties)) / 2, 3)
