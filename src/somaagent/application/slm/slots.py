"""The slot tagger: a linear-chain CRF (CRFsuite) over word features, BIO-decoded into spans."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycrfsuite

from somaagent.application.slm.tokens import (
    Token,
    bio_labels,
    features,
    spans_from_labels,
    tokenize,
)
from somaagent.domain.slm import Slot


class SlotTagger:
    """A linear-chain CRF (CRFsuite) over word features, BIO-decoded into character spans.

    The trained model is kept as bytes, so the tagger pickles with the other classifiers;
    the CRFsuite tagger is opened from them on first use.
    """

    def __init__(self, model_bytes: bytes | None, labels_seen: tuple[str, ...]) -> None:
        self.model_bytes = model_bytes
        self.labels_seen = labels_seen
        self._tagger: pycrfsuite.Tagger | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"model_bytes": self.model_bytes, "labels_seen": self.labels_seen}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.model_bytes = state["model_bytes"]
        self.labels_seen = state["labels_seen"]
        self._tagger = None

    @classmethod
    def fit(
        cls, examples: Sequence[tuple[str, list[tuple[str, int, int]]]], iterations: int = 150
    ) -> SlotTagger:
        trainer = pycrfsuite.Trainer(verbose=False)
        seen: set[str] = set()
        for text, spans in examples:
            tokens = tokenize(text)
            if tokens:
                labels = bio_labels(tokens, spans)
                seen.update(labels)
                trainer.append(crf_features(tokens), labels)
        if len(seen) < 2:
            return cls(None, tuple(sorted(seen)))
        trainer.set_params(
            {"c1": 0.05, "c2": 0.01, "max_iterations": iterations,
             "feature.possible_transitions": True}
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "slots.crfsuite"
            trainer.train(str(path))
            return cls(path.read_bytes(), tuple(sorted(seen)))

    def _get_tagger(self) -> pycrfsuite.Tagger | None:
        if self._tagger is None and self.model_bytes is not None:
            self._tagger = pycrfsuite.Tagger()
            self._tagger.open_inmemory(self.model_bytes)
        return self._tagger

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        tokens = tokenize(text)
        tagger = self._get_tagger()
        if not tokens or tagger is None:
            return []
        return spans_from_labels(tokens, [str(x) for x in tagger.tag(crf_features(tokens))])

    def slots(self, text: str) -> tuple[Slot, ...]:
        return tuple(
            Slot(name=name, value=text[start:end], start=start, end=end)
            for name, start, end in self.spans(text)
        )


def crf_features(tokens: list[Token]) -> list[dict[str, float]]:
    """CRFsuite items: string features become `name=value` indicators."""
    items: list[dict[str, float]] = []
    for i in range(len(tokens)):
        item: dict[str, float] = {}
        for key, value in features(tokens, i).items():
            if isinstance(value, str):
                item[f"{key}={value}"] = 1.0
            else:
                item[key] = value
        items.append(item)
    return items
