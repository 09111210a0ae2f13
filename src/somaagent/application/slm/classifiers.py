"""The three trained classifiers: intent and safety on sentence embeddings, slots per token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression

from somaagent.application.slm.tokens import bio_labels, features, spans_from_labels, tokenize
from somaagent.domain.errors import ValidationError
from somaagent.domain.slm import OUT_OF_SCOPE, Intent, SafetyCategory, SafetyTag, Slot

Matrix = np.ndarray[Any, np.dtype[np.float32]]


def as_matrix(vectors: Sequence[Sequence[float]]) -> Matrix:
    return np.asarray(vectors, dtype=np.float32)


@dataclass
class IntentClassifier:
    """Logistic regression over embeddings; below `threshold` the message is out of scope."""

    model: LogisticRegression
    threshold: float

    @classmethod
    def fit(
        cls, vectors: Matrix, labels: Sequence[str], threshold: float = 0.3, c: float = 10.0
    ) -> IntentClassifier:
        if len(set(labels)) < 2:
            raise ValidationError("labels", "intent training needs at least two intents")
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit(vectors, list(labels))
        return cls(model, threshold)

    def probabilities(self, vectors: Matrix) -> Matrix:
        return np.asarray(self.model.predict_proba(vectors), dtype=np.float32)

    def decide(self, probs: Matrix) -> list[Intent]:
        classes = self.model.classes_
        out: list[Intent] = []
        for row in probs:
            best = int(np.argmax(row))
            conf = float(row[best])
            name = str(classes[best])
            oos = conf < self.threshold or name == OUT_OF_SCOPE
            out.append(Intent(name=name, confidence=round(conf, 4), out_of_scope=oos))
        return out

    def predict(self, vectors: Matrix) -> list[Intent]:
        return self.decide(self.probabilities(vectors))


@dataclass
class SafetyClassifier:
    """Binary prompt-injection detector over embeddings; the score is P(injection)."""

    model: LogisticRegression
    category: SafetyCategory = "prompt_injection"
    threshold: float = 0.5

    @classmethod
    def fit(cls, vectors: Matrix, labels: Sequence[int], c: float = 10.0) -> SafetyClassifier:
        if set(labels) != {0, 1}:
            raise ValidationError("labels", "safety training needs both benign (0) and attacks (1)")
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
        model.fit(vectors, list(labels))
        return cls(model)

    def scores(self, vectors: Matrix) -> list[float]:
        return [float(p) for p in self.model.predict_proba(vectors)[:, 1]]

    def tags(self, vectors: Matrix) -> list[tuple[SafetyTag, ...]]:
        return [
            (SafetyTag(category=self.category, score=round(s, 4)),) for s in self.scores(vectors)
        ]


@dataclass
class SlotTagger:
    """Per-token logistic regression over word features, BIO-decoded into character spans."""

    vectorizer: DictVectorizer
    model: LogisticRegression | None
    labels_seen: tuple[str, ...]

    @classmethod
    def fit(cls, examples: Sequence[tuple[str, list[tuple[str, int, int]]]]) -> SlotTagger:
        rows: list[dict[str, str | float]] = []
        targets: list[str] = []
        for text, spans in examples:
            tokens = tokenize(text)
            rows.extend(features(tokens, i) for i in range(len(tokens)))
            targets.extend(bio_labels(tokens, spans))
        vectorizer = DictVectorizer()
        matrix = vectorizer.fit_transform(rows)
        seen = tuple(sorted(set(targets)))
        if len(seen) < 2:
            return cls(vectorizer, None, seen)
        model = LogisticRegression(C=5.0, max_iter=3000)
        model.fit(matrix, targets)
        return cls(vectorizer, model, seen)

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        tokens = tokenize(text)
        if not tokens or self.model is None:
            return []
        matrix = self.vectorizer.transform([features(tokens, i) for i in range(len(tokens))])
        labels = [str(x) for x in self.model.predict(matrix)]
        return spans_from_labels(tokens, labels)

    def slots(self, text: str) -> tuple[Slot, ...]:
        return tuple(
            Slot(name=name, value=text[start:end], start=start, end=end)
            for name, start, end in self.spans(text)
        )
