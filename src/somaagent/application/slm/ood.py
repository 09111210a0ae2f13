"""Out-of-scope scores over sentence embeddings: how far a message is from what was seen.

The intent classifier's calibrated confidence is one score; two distance-based ones sit
beside it, both higher for messages that look like the training data:

    neighbours   mean cosine similarity to the k nearest training sentences
    mahalanobis  minus the smallest Mahalanobis distance to an intent's mean, with one
                 covariance shared by all intents (shrunk towards the identity)

`InScopeRule` is what the product's intent classifier applies: the confidence plus the
neighbours score, out of scope under a threshold chosen on validation data (on CLINC150 it
kept the most out-of-scope recall at the in-scope accuracy goal; docs/benchmarks.md).

`loss_threshold` picks, on held-out data, the threshold under which at most a given share
of the correctly answered in-scope messages fall (a message below the threshold is out of
scope, so a correct answer under it is lost): a budget of lost answers, not an accuracy
floor, since held-out parts of a training set are easier than new data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from somaagent.domain.errors import ValidationError

Array = np.ndarray[Any, np.dtype[np.float64]]
Vectors = Sequence[Sequence[float]] | np.ndarray[Any, Any]
#: Rows scored per matrix product (bounds memory: chunk x training sentences floats).
CHUNK = 512


def _matrix(vectors: Vectors) -> Array:
    out = np.asarray(vectors, dtype=np.float64)
    if out.ndim != 2 or not len(out):
        raise ValidationError("vectors", "need a non-empty 2-d array of embeddings")
    return out


def _unit(m: Array) -> Array:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


class NeighbourScore:
    """Mean cosine similarity to the `k` most similar training sentences."""

    def __init__(self, train: Vectors, k: int = 5) -> None:
        if k < 1:
            raise ValidationError("k", "must be at least 1")
        self.train = _unit(_matrix(train)).astype(np.float32)
        self.k = min(k, len(self.train))

    def scores(self, vectors: Vectors) -> Array:
        queries = _unit(_matrix(vectors)).astype(np.float32)
        out = np.empty(len(queries))
        for start in range(0, len(queries), CHUNK):
            sims = queries[start : start + CHUNK] @ self.train.T
            top = np.partition(sims, -self.k, axis=1)[:, -self.k :]
            out[start : start + CHUNK] = top.mean(axis=1)
        return out


class MahalanobisScore:
    """Minus the smallest Mahalanobis distance to a class mean (tied covariance)."""

    def __init__(
        self,
        train: Vectors,
        labels: Sequence[str],
        shrinkage: float = 1e-3,
    ) -> None:
        x = _matrix(train)
        y = np.asarray(labels)
        if len(y) != len(x):
            raise ValidationError("labels", "need one label per training vector")
        classes = sorted(set(labels))
        self.means = np.stack([x[y == c].mean(axis=0) for c in classes])
        centred = x - self.means[np.searchsorted(classes, y)]
        cov = np.cov(centred, rowvar=False) + shrinkage * np.eye(x.shape[1])
        self.precision = np.linalg.inv(cov)
        self._mean_terms = np.einsum("kd,de,ke->k", self.means, self.precision, self.means)

    def scores(self, vectors: Vectors) -> Array:
        z = _matrix(vectors)
        zp = z @ self.precision
        dist = np.einsum("nd,nd->n", zp, z)[:, None] - 2 * zp @ self.means.T + self._mean_terms
        return np.asarray(-dist.min(axis=1), dtype=np.float64)


@dataclass
class InScopeRule:
    """In-scope score = calibrated confidence of the top intent + mean cosine similarity to
    the k nearest in-scope training sentences; a message scoring under `threshold` is out
    of scope."""

    neighbours: NeighbourScore
    threshold: float = float("-inf")

    def scores(self, confidence: Array, vectors: Vectors) -> Array:
        conf = np.asarray(confidence, dtype=np.float64)
        return np.asarray(conf + self.neighbours.scores(vectors), dtype=np.float64)

    def out_of_scope(
        self, confidence: Array, vectors: Vectors
    ) -> np.ndarray[Any, np.dtype[np.bool_]]:
        return np.asarray(self.scores(confidence, vectors) < self.threshold, dtype=np.bool_)


def loss_threshold(correct_scores: Sequence[float] | Array, max_loss: float) -> float:
    """The threshold that puts at most `max_loss` of the in-scope messages the classifier
    answered correctly under it (they would be lost to out of scope)."""
    scores = np.sort(np.asarray(correct_scores, dtype=np.float64))
    if not len(scores):
        raise ValidationError("correct_scores", "need the scores of correct answers")
    if not 0 <= max_loss < 1:
        raise ValidationError("max_loss", "must be in [0, 1)")
    lost = int(np.floor(max_loss * len(scores)))
    return float(scores[lost])
