"""The intent and safety classifiers: logistic regressions over embeddings and n-grams.

Both keep what was chosen for them on validation data next to their weights, so the
pickled model carries its own decision rules: the intent classifier its temperature
(calibrated confidences), routing threshold and out-of-scope rule (ood.InScopeRule), the
safety classifier its flag and high-risk thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from somaagent.application.slm.calibration import fit_temperature, softmax
from somaagent.application.slm.features import (
    FastLinear,
    Row,
    intent_features,
    linear_model,
    safety_features,
    vectors_of,
)
from somaagent.application.slm.ood import InScopeRule
from somaagent.domain.errors import ValidationError
from somaagent.domain.slm import OUT_OF_SCOPE, Intent, SafetyCategory, SafetyTag

Matrix = np.ndarray[Any, np.dtype[np.float64]]


class _Scored:
    """Logits from the fitted pipeline's weights (FastLinear, built on first use and not
    pickled: it is derived from `model`)."""

    model: Pipeline
    _fast: FastLinear | None

    def logits(self, rows: Sequence[Row]) -> Matrix:
        if self._fast is None:
            self._fast = FastLinear(self.model)
        return self._fast.logits(rows)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fast": None}


@dataclass
class IntentClassifier(_Scored):
    """Calibrated intent probabilities; a message is out of scope when its top intent is
    `out_of_scope` or it fails `in_scope` (without one: confidence under `threshold`); at
    or above `route_threshold` a tool intent calls its tool."""

    model: Pipeline
    threshold: float
    temperature: float = 1.0
    route_threshold: float | None = None
    in_scope: InScopeRule | None = None
    _fast: FastLinear | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def fit(
        cls,
        rows: Sequence[Row],
        labels: Sequence[str],
        threshold: float = 0.25,
        c: float = 30.0,
        ngrams: bool = True,
    ) -> IntentClassifier:
        """Fit on (text, embedding) rows; without `ngrams` on the embedding alone."""
        if len(set(labels)) < 2:
            raise ValidationError("labels", "intent training needs at least two intents")
        model = linear_model(intent_features(ngrams), c)
        model.fit(list(rows), list(labels))
        return cls(model, threshold)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    def calibrate(self, rows: Sequence[Row], labels: Sequence[str]) -> float:
        """Fit the temperature on held-out rows whose labels the model knows."""
        index = {name: i for i, name in enumerate(self.classes)}
        kept = [(r, index[y]) for r, y in zip(rows, labels, strict=True) if y in index]
        if not kept:
            raise ValidationError("labels", "no calibration row has an intent of the model")
        self.temperature = fit_temperature(self.logits([r for r, _ in kept]), [i for _, i in kept])
        return self.temperature

    def probabilities(self, rows: Sequence[Row]) -> Matrix:
        return softmax(self.logits(rows) / self.temperature)

    def unsure(self, probs: Matrix, rows: Sequence[Row]) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Which rows the out-of-scope rule rejects (whatever their top intent)."""
        conf = probs.max(axis=1)
        if self.in_scope is None:
            return np.asarray(conf < self.threshold)
        return self.in_scope.out_of_scope(conf, vectors_of(rows))

    def decide(self, probs: Matrix, unsure: Sequence[bool]) -> list[Intent]:
        classes = self.classes
        out: list[Intent] = []
        for row, rejected in zip(probs, unsure, strict=True):
            best = int(np.argmax(row))
            conf = min(1.0, float(row[best]))
            oos = bool(rejected) or classes[best] == OUT_OF_SCOPE
            out.append(Intent(name=classes[best], confidence=round(conf, 4), out_of_scope=oos))
        return out

    def predict(self, rows: Sequence[Row]) -> list[Intent]:
        probs = self.probabilities(rows)
        return self.decide(probs, list(self.unsure(probs, rows)))


@dataclass
class SafetyClassifier(_Scored):
    """A binary detector for one category; the score is P(attack). `threshold` flags a
    message, `high_threshold` marks it high risk."""

    model: Pipeline
    category: SafetyCategory = "prompt_injection"
    threshold: float = 0.5
    high_threshold: float = 1.0
    _fast: FastLinear | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def fit(
        cls,
        rows: Sequence[Row],
        labels: Sequence[int],
        weights: Sequence[float] | None = None,
        c: float = 10.0,
    ) -> SafetyClassifier:
        if set(labels) != {0, 1}:
            raise ValidationError("labels", "safety training needs both benign (0) and attacks (1)")
        model = linear_model(safety_features(), c)
        model.fit(list(rows), list(labels), model__sample_weight=weights)
        return cls(model)

    def scores(self, rows: Sequence[Row]) -> list[float]:
        return [float(p) for p in softmax(self.logits(rows))[:, 1]]

    def tags(self, rows: Sequence[Row]) -> list[tuple[SafetyTag, ...]]:
        return [
            (
                SafetyTag(
                    category=self.category,
                    score=round(min(1.0, s), 4),
                    threshold=self.threshold,
                    high_threshold=self.high_threshold,
                ),
            )
            for s in self.scores(rows)
        ]
