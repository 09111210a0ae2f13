"""Accuracy figures of the SLM classifiers (used by bench/slm.py).

- `product`: the persona's model exactly as `soma slm train` builds it, scored on the test
  folds it never saw: safety flags on benign traffic and injections, routing on the routing
  set's test part, intent calibration.
- `clinc150`, `banking77`: the intent classifier on public intent sets (embedding features
  only, as 150 or 77 intents over thousands of sentences make n-grams slow to fit).
- `nlupp_slots`: the CRF slot tagger on NLU++.
"""

from __future__ import annotations

import random
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from somaagent.adapters.personas import FilePersonaCatalog
from somaagent.application.slm import (
    RoutingItem,
    SlmModel,
    default_routing_path,
    load_nlu,
    load_routing,
    load_training_data,
    safety_data,
    train_persona,
)
from somaagent.application.slm import datasets as ds
from somaagent.application.slm.classifiers import IntentClassifier
from somaagent.application.slm.evaluation import routing_report, safety_report
from somaagent.application.slm.features import Row, rows_of
from somaagent.application.slm.safety_data import safety_examples
from somaagent.application.slm.slots import SlotTagger
from somaagent.domain.slm import OUT_OF_SCOPE, Embedder
from somaagent.settings import repo_root

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


async def embedded(embedder: Embedder, texts: Sequence[str]) -> list[Row]:
    return rows_of(texts, await embedder.embed(list(texts)))


async def product(root: Path, embedder: Embedder) -> tuple[SlmModel, dict[str, Any]]:
    """Train the default persona's model as `soma slm train` does; report on test folds."""
    persona = FilePersonaCatalog(repo_root() / "personas").get("default")
    intents = dict(persona.tool_intents)
    nlu = load_nlu(repo_root() / "personas" / "default" / "nlu.yml")
    routing = load_routing(default_routing_path(), intents)
    model = await train_persona(load_training_data(nlu, routing, intents, root), embedder)
    assert model.safety is not None
    holdout_set = load_routing(default_routing_path("holdout"), intents, "test")
    tests = safety_examples(root, "test", routing) + safety_data.routing(holdout_set, "test")
    safety = safety_report(model.safety, await embedded(embedder, [e.text for e in tests]), tests)
    seen = {e.text for e in nlu.examples} | {i.text for i in routing.part("train")}
    held = [i for i in routing.part("test") if i.text not in seen]
    fresh = [i for i in holdout_set.items if i.text not in seen]
    route = await routing_figures(model, embedder, [*held, *fresh], intents)
    holdout = await routing_figures(model, embedder, fresh, intents)
    return model, {
        "model_version": model.version,
        **safety,
        "safety_threshold": model.safety.threshold,
        "safety_high_threshold": model.safety.high_threshold,
        **route,
        "route_threshold": model.intent.route_threshold,
        "intent_temperature": round(model.intent.temperature, 4),
        **{f"holdout_{k}": v for k, v in holdout.items()},
        "routing_test_overlap_dropped": len(routing.part("test")) - len(held),
        "train_seconds": model.manifest["train_seconds"],
    }


async def routing_figures(
    model: SlmModel, embedder: Embedder, items: Sequence[RoutingItem], intents: dict[str, str]
) -> dict[str, Any]:
    """Routing as the worker applies it, without and with the safety flag blocking tools."""
    rows = await embedded(embedder, [i.text for i in items])
    assert model.safety is not None
    flagged = [tags[0].flagged for tags in model.safety.tags(rows)]
    guarded = routing_report(model.intent, rows, items, intents, flagged)
    return {
        **routing_report(model.intent, rows, items, intents),
        "route_precision_unflagged": guarded["route_precision"],
        "route_recall_unflagged": guarded["route_recall"],
    }


def oos_scores(
    clf: IntentClassifier, x_in: list[Row], y_in: list[str], x_oos: list[Row], t: float
) -> tuple[float, float]:
    clf.threshold = t
    got = clf.predict(x_in)
    acc = sum(p.name == y and not p.out_of_scope for p, y in zip(got, y_in, strict=True))
    recall = sum(p.out_of_scope for p in clf.predict(x_oos)) / max(1, len(x_oos))
    return acc / len(y_in), recall


def pick_threshold(sweep: dict[float, tuple[float, float]], min_recall: float = 0.7) -> float:
    """Best held-out in-scope accuracy among thresholds whose out-of-scope recall reaches
    `min_recall` (the goal's floor); the best accuracy + recall when none does."""
    ok = [t for t in THRESHOLDS if sweep[t][1] >= min_recall]
    if ok:
        return max(ok, key=lambda t: (sweep[t][0], sweep[t][1]))
    return max(THRESHOLDS, key=lambda t: sum(sweep[t]))


def fit_embeddings(rows: list[Row], labels: list[str], threshold: float = 0.3) -> IntentClassifier:
    return IntentClassifier.fit(rows, labels, threshold, c=10.0, ngrams=False)


async def clinc150(root: Path, embedder: Embedder, quick: bool) -> dict[str, Any]:
    data = ds.clinc150(root)
    train = per_class(data["train"], 20 if quick else None)
    val = per_class(data["val"], 5 if quick else None)
    oos_train, oos_val = data["oos_train"], data["oos_val"][: 40 if quick else None]
    x_train = await embedded(embedder, [t for t, _ in train])
    x_oos_train = await embedded(embedder, [t for t, _ in oos_train])
    x_val = await embedded(embedder, [t for t, _ in val])
    x_oos_val = await embedded(embedder, [t for t, _ in oos_val])
    y_train, y_val = [y for _, y in train], [y for _, y in val]
    # pick the out-of-scope threshold on a held-out part of train (+ half of oos_train)
    fit_idx, hold_idx = train_test_split(
        range(len(train)), test_size=0.2, stratify=y_train, random_state=7
    )
    half = len(oos_train) // 2
    probe = fit_embeddings(
        [x_train[i] for i in fit_idx] + x_oos_train[:half],
        [y_train[i] for i in fit_idx] + [OUT_OF_SCOPE] * half,
    )
    x_hold, y_hold = [x_train[i] for i in hold_idx], [y_train[i] for i in hold_idx]
    sweep = {t: oos_scores(probe, x_hold, y_hold, x_oos_train[half:], t) for t in THRESHOLDS}
    best = pick_threshold(sweep)
    note(f"clinc150: threshold {best} chosen on held-out train: {sweep}")
    clf = fit_embeddings(x_train + x_oos_train, y_train + [OUT_OF_SCOPE] * len(oos_train))
    acc, recall = oos_scores(clf, x_val, y_val, x_oos_val, best)
    val_sweep = {
        str(t): [round(v, 4) for v in oos_scores(clf, x_val, y_val, x_oos_val, t)]
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
    data = per_class(ds.banking77(root), 30 if quick else None)
    rows, y = await embedded(embedder, [t for t, _ in data]), np.array([c for _, c in data])
    accs = []
    for fit, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=7).split(rows, y):
        clf = fit_embeddings([rows[i] for i in fit], list(y[fit]), threshold=0.0)
        got = [p.name for p in clf.predict([rows[i] for i in test])]
        accs.append(float(np.mean(np.array(got) == y[test])))
    return {"banking77_acc_5fold": round(float(np.mean(accs)), 4), "banking77_n": len(data)}


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
