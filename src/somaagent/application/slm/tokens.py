"""Word tokens with character offsets, BIO labels from spans, and spans back from labels."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+(?:[.:'\u2019-]\w+)*|[^\w\s]")
OUTSIDE = "O"


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def bio_labels(tokens: list[Token], spans: list[tuple[str, int, int]]) -> list[str]:
    """B-/I-<slot> for tokens inside a span (by overlap), O elsewhere."""
    labels = [OUTSIDE] * len(tokens)
    for name, start, end in spans:
        inside = [i for i, t in enumerate(tokens) if t.start < end and t.end > start]
        for n, i in enumerate(inside):
            labels[i] = f"{'B' if n == 0 else 'I'}-{name}"
    return labels


def spans_from_labels(tokens: list[Token], labels: list[str]) -> list[tuple[str, int, int]]:
    """Join runs of B-x I-x ... into (x, start, end); a stray I-x starts a new span."""
    spans: list[tuple[str, int, int]] = []
    for token, label in zip(tokens, labels, strict=True):
        if label == OUTSIDE:
            continue
        kind, name = label.split("-", 1)
        if kind == "I" and spans and spans[-1][0] == name and _adjacent(spans[-1], token):
            spans[-1] = (name, spans[-1][1], token.end)
        else:
            spans.append((name, token.start, token.end))
    return spans


def _adjacent(span: tuple[str, int, int], token: Token) -> bool:
    return token.start - span[2] <= 1


def features(tokens: list[Token], i: int) -> dict[str, str | float]:
    """Hand-made features of token i and its neighbours for the per-token classifier."""
    word = tokens[i].text
    low = word.lower()
    feats: dict[str, str | float] = {
        "w": low,
        "suf3": low[-3:],
        "pre3": low[:3],
        "shape": re.sub(r"[a-z]+", "a", re.sub(r"[A-Z]+", "A", re.sub(r"\d+", "0", word))),
        "title": float(word[:1].isupper()),
        "digit": float(any(c.isdigit() for c in word)),
        "pos": float(i == 0),
    }
    for off in (-2, -1, 1, 2):
        j = i + off
        feats[f"w{off}"] = tokens[j].text.lower() if 0 <= j < len(tokens) else "<pad>"
    feats["bigram-1"] = f"{feats['w-1']}|{low}"
    return feats
