"""Accuracy figures of the SLM classifiers on the public datasets (used by bench/slm.py)."""

from __future__ import annotations

import random
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold, train_test_split

from somaagent.application.slm import datasets as ds
from somaagent.application.slm.classifiers import (
    IntentClassifier,
    SafetyClassifier,
    SlotTagger,
    as_matrix,
)
from somaagent.domain.slm import OUT_OF_SCOPE, Embedder

THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)


def note(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def per_class(
    rows: Sequence[tuple[str, str]], n: int | None, seed: int = 7
) -> list[tuple[str, str]]:
    """At most n rows per label (all when None), deterministic."""
    if n is None:
        return list(rows)
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        groups[row[1]].append(row)
    rng = random.Random(seed)
    return [r for g in groups.values() for r in rng.sample(g, min(n, len(g)))]


async def vectors(embedder: Embedder, rows: Sequence[tuple[str, Any]]) -> np.ndarray[Any, Any]:
    return as_matrix(await embedder.embed([t for t, _ in rows]))


def oos_scores(
    clf: IntentClassifier, x_in: Any, y_in: list[str], x_oos: Any, t: float
) -> tuple[float, float]:
    clf.threshold = t
    got_in = clf.predict(x_in)
    acc = sum(p.name == y and not p.out_of_scope for p, y in zip(got_in, y_in, strict=True)) / len(
        y_in
    )
    recall = sum(p.out_of_scope for p in clf.predict(x_oos)) / max(1, len(x_oos))
    return acc, recall


def pick_threshold(sweep: dict[float, tuple[float, float]], min_recall: float = 0.7) -> float:
    """Best held-out in-scope accuracy among thresholds whose out-of-scope recall reaches
    `min_recall` (the goal's floor); the best accuracy + recall when none does."""
    ok = [t for t in THRESHOLDS if sweep[t][1] >= min_recall]
    if ok:
        return max(ok, key=lambda t: (sweep[t][0], sweep[t][1]))
    return max(THRESHOLDS, key=lambda t: sum(sweep[t]))


async def clinc150(root: Path, embedder: Embedder, quick: bool) -> dict[str, Any]:
    data = ds.clinc150(root)
    train = per_class(data["train"], 20 if quick else None)
    val = per_class(data["val"], 5 if quick else None)
    oos_train, oos_val = data["oos_train"], data["oos_val"][: 40 if quick else None]
    x_train, x_oos_train = await vectors(embedder, train), await vectors(embedder, oos_train)
    x_val, x_oos_val = await vectors(embedder, val), await vectors(embedder, oos_val)
    y_train = [y for _, y in train]
    # pick the out-of-scope threshold on a held-out part of train (+ half of oos_train)
    fit_idx, hold_idx = train_test_split(
        range(len(train)), test_size=0.2, stratify=y_train, random_state=7
    )
    half = len(oos_train) // 2
    x_fit = np.vstack([x_train[fit_idx], x_oos_train[:half]])
    y_fit = [y_train[i] for i in fit_idx] + [OUT_OF_SCOPE] * half
    probe = IntentClassifier.fit(x_fit, y_fit)
    y_hold = [y_train[i] for i in hold_idx]
    sweep = {
        t: oos_scores(probe, x_train[hold_idx], y_hold, x_oos_train[half:], t) for t in THRESHOLDS
    }
    best = pick_threshold(sweep)
    note(f"clinc150: threshold {best} chosen on held-out train: {sweep}")
    clf = IntentClassifier.fit(
        np.vstack([x_train, x_oos_train]), y_train + [OUT_OF_SCOPE] * len(oos_train)
    )
    acc, recall = oos_scores(clf, x_val, [y for _, y in val], x_oos_val, best)
    val_sweep = {
        str(t): [round(v, 4) for v in oos_scores(clf, x_val, [y for _, y in val], x_oos_val, t)]
        for t in THRESHOLDS
    }
    return {
        "clinc_in_scope_acc": round(acc, 4),
        "clinc_oos_recall": round(recall, 4),
        "clinc_threshold": best,
        "clinc_val_sweep_acc_recall": val_sweep,
        "clinc_n_train": len(train),
        "clinc_n_val": len(val),
    }


async def banking77(root: Path, embedder: Embedder, quick: bool) -> dict[str, Any]:
    rows = per_class(ds.banking77(root), 30 if quick else None)
    x, y = await vectors(embedder, rows), np.array([label for _, label in rows])
    accs = []
    for fit, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=7).split(x, y):
        clf = IntentClassifier.fit(x[fit], list(y[fit]), threshold=0.0)
        got = [p.name for p in clf.predict(x[test])]
        accs.append(float(np.mean(np.array(got) == y[test])))
    return {"banking77_acc_5fold": round(float(np.mean(accs)), 4), "banking77_n": len(rows)}


def nlupp_slots(root: Path, quick: bool) -> dict[str, Any]:
    train_folds = range(3) if quick else range(10)
    test_folds = range(10, 12) if quick else range(10, 16)
    domains = ("banking", "hotels")
    train = [r for d in domains for f in train_folds for r in ds.nlupp_fold(root, d, f)]
    test = [r for d in domains for f in test_folds for r in ds.nlupp_fold(root, d, f)]
    tagger = SlotTagger.fit(train)
    gold = {(i, *s) for i, (_, spans) in enumerate(test) for s in spans}
    pred = {(i, *s) for i, (text, _) in enumerate(test) for s in tagger.spans(text)}
    tp = len(gold & pred)
    precision = tp / max(1, len(pred))
    recall = tp / max(1, len(gold))
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    return {
        "nlupp_slot_f1": round(f1, 4),
        "nlupp_slot_precision": round(precision, 4),
        "nlupp_slot_recall": round(recall, 4),
        "nlupp_n_train": len(train),
        "nlupp_n_test": len(test),
    }


async def prompt_injection(root: Path, embedder: Embedder, quick: bool) -> dict[str, Any]:
    train = ds.prompt_injection(root, "train")[: 1500 if quick else None]
    val = ds.prompt_injection(root, "validation")[: 500 if quick else None]
    clf = SafetyClassifier.fit(await vectors(embedder, train), [y for _, y in train])
    scores = clf.scores(await vectors(embedder, val))
    pred = [int(s >= clf.threshold) for s in scores]
    p, r, f, _ = precision_recall_fscore_support([y for _, y in val], pred, average="binary")
    return {
        "injection_precision": round(float(p), 4),
        "injection_recall": round(float(r), 4),
        "injection_f1": round(float(f), 4),
        "injection_n_train": len(train),
        "injection_n_val": len(val),
    }
