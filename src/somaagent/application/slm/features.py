"""What the intent and safety classifiers read: the sentence embedding and TF-IDF n-grams.

The embedding carries the meaning; word and character n-grams carry the surface cues an
embedding blurs (digits and operators of arithmetic, "remember" against "do you remember",
obfuscated injections such as "1gn0r3 pr3v10u5"). Both are joined into one sparse row per
message by an sklearn FeatureUnion, fitted on the training texts only.

Rows are (text, embedding) pairs, so the same fitted pipeline scores a message at run time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

Row = tuple[str, Sequence[float]]


def texts_of(rows: Sequence[Row]) -> list[str]:
    return [text for text, _ in rows]


def vectors_of(rows: Sequence[Row]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.asarray([vector for _, vector in rows], dtype=np.float32)


def rows_of(texts: Sequence[str], vectors: Sequence[Sequence[float]]) -> list[Row]:
    return list(zip(texts, vectors, strict=True))


def _tfidf(**options: Any) -> Pipeline:
    return make_pipeline(
        FunctionTransformer(texts_of), TfidfVectorizer(sublinear_tf=True, **options)
    )


def intent_features(ngrams: bool = True) -> FeatureUnion:
    """Embedding + word 1-2 grams + character 2-5 grams (fitted on a few hundred texts);
    the embedding alone without `ngrams`."""
    parts: list[tuple[str, Any]] = [("embedding", FunctionTransformer(vectors_of))]
    if ngrams:
        parts += [
            ("words", _tfidf(ngram_range=(1, 2))),
            ("chars", _tfidf(analyzer="char_wb", ngram_range=(2, 5))),
        ]
    return FeatureUnion(parts)


def safety_features(max_features: int = 30_000) -> FeatureUnion:
    """Embedding + the most frequent character 2-4 grams (seen at least twice)."""
    return FeatureUnion(
        [
            ("embedding", FunctionTransformer(vectors_of)),
            (
                "chars",
                _tfidf(analyzer="char_wb", ngram_range=(2, 4), max_features=max_features, min_df=2),
            ),
        ]
    )


def linear_model(features: FeatureUnion, c: float) -> Pipeline:
    """The features followed by a logistic regression (multinomial for several classes)."""
    return Pipeline([("features", features), ("model", LogisticRegression(C=c, max_iter=5000))])


@dataclass
class _NgramBlock:
    analyse: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray[Any, np.dtype[np.float64]]
    weights: np.ndarray[Any, np.dtype[np.float64]]  # (classes, block columns)

    def scores(self, text: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        """This block's share of the logits: sublinear tf * idf, L2-normalised, times weights."""
        counts = Counter(t for t in self.analyse(text) if t in self.vocabulary)
        if not counts:
            return np.zeros(self.weights.shape[0])
        index = np.fromiter((self.vocabulary[t] for t in counts), dtype=np.intp)
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))
        values = tf * self.idf[index]
        values /= np.linalg.norm(values)
        return np.asarray(self.weights[:, index] @ values, dtype=np.float64)


class FastLinear:
    """A fitted `linear_model` pipeline's logits computed directly from its weights.

    sklearn spends ~1 ms per call on validation and joblib around a one-row transform; the
    same arithmetic on one message takes tens of microseconds here (the same numbers, which
    tests/application/slm checks against the pipeline)."""

    def __init__(self, model: Pipeline) -> None:
        union: FeatureUnion = model.named_steps["features"]
        lr: LogisticRegression = model.named_steps["model"]
        coef = np.asarray(lr.coef_, dtype=np.float64)
        self.intercept = np.asarray(lr.intercept_, dtype=np.float64)
        names = [name for name, _ in union.transformer_list]
        if names[0] != "embedding":
            raise ValueError("the embedding must be the first feature block")
        vectorizers: list[TfidfVectorizer] = [p.steps[-1][1] for _, p in union.transformer_list[1:]]
        offset = coef.shape[1] - sum(len(v.vocabulary_) for v in vectorizers)
        self.dense = coef[:, :offset]
        self.blocks: list[_NgramBlock] = []
        for vectorizer in vectorizers:
            width = len(vectorizer.vocabulary_)
            self.blocks.append(
                _NgramBlock(
                    vectorizer.build_analyzer(),
                    dict(vectorizer.vocabulary_),
                    np.asarray(vectorizer.idf_, dtype=np.float64),
                    coef[:, offset : offset + width],
                )
            )
            offset += width

    def logits(self, rows: Sequence[Row]) -> np.ndarray[Any, np.dtype[np.float64]]:
        out = np.empty((len(rows), self.intercept.shape[0]))
        for i, (text, vector) in enumerate(rows):
            z = self.dense @ np.asarray(vector, dtype=np.float64) + self.intercept
            for block in self.blocks:
                z += block.scores(text)
            out[i] = z
        if out.shape[1] == 1:
            return np.column_stack([np.zeros(len(rows)), out[:, 0]])
        return out
