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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from bench.agent_eval_tasks import load_tasks
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
from somaagent.application.slm.evaluation import (
    out_of_scope_report,
    routing_report,
    safety_report,
)
from somaagent.application.slm.features import Row, rows_of, vectors_of
from somaagent.application.slm.intent_training import NEIGHBOURS, OOS_MAX_LOSS
from somaagent.application.slm.ood import (
    InScopeRule,
    MahalanobisScore,
    NeighbourScore,
    loss_threshold,
)
from somaagent.application.slm.safety_data import SafetyExample, safety_examples
from somaagent.application.slm.slots import SlotTagger
from somaagent.application.slm.training import jailbreak_examples
from somaagent.domain.slm import OUT_OF_SCOPE, Embedder
from somaagent.settings import repo_root


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
    holdout_set = load_routing(default_routing_path("holdout"), intents, "test")
    tests = safety_examples(root, "test", routing) + safety_data.routing(holdout_set, "test")
    safety = await safety_figures(model, embedder, tests)
    seen = {e.text for e in nlu.examples} | {i.text for i in routing.part("train")}
    held = [i for i in routing.part("test") if i.text not in seen]
    fresh = [i for i in holdout_set.items if i.text not in seen]
    route = await routing_figures(model, embedder, [*held, *fresh], intents)
    holdout = await routing_figures(model, embedder, fresh, intents)
    oos = out_of_scope_report(
        model.intent,
        await embedded(embedder, [i.text for i in [*held, *fresh]]),
        [i.intent for i in [*held, *fresh]],
    )
    return model, {
        "model_version": model.version,
        **safety,
        **await eval_messages(model, embedder),
        **route,
        "route_threshold": model.intent.route_threshold,
        "intent_temperature": round(model.intent.temperature, 4),
        **{f"product_{k}": v for k, v in oos.items()},
        "product_in_scope_threshold": model.manifest["intent"]["in_scope_threshold"],
        **{f"holdout_{k}": v for k, v in holdout.items()},
        "routing_test_overlap_dropped": len(routing.part("test")) - len(held),
        "train_seconds": model.manifest["train_seconds"],
    }


async def safety_figures(
    model: SlmModel, embedder: Embedder, tests: Sequence[SafetyExample]
) -> dict[str, Any]:
    """Both safety tags on the test folds: `prompt_injection` on every example, `jailbreak`
    on its own attacks against the benign ones (`jailbreak_tag_*`)."""
    assert model.safety is not None and model.jailbreak is not None
    rows = {row[0]: row for row in await embedded(embedder, [e.text for e in tests])}
    jailbreaks = jailbreak_examples(tests)
    tag = safety_report(model.jailbreak, [rows[e.text] for e in jailbreaks], jailbreaks)
    return {
        **safety_report(model.safety, [rows[e.text] for e in tests], tests),
        "safety_threshold": model.safety.threshold,
        "safety_high_threshold": model.safety.high_threshold,
        "jailbreak_tag_recall": tag["injection_recall"],
        "jailbreak_tag_high_recall": tag["high_injection_recall"],
        "jailbreak_tag_benign_flag_rate": tag["benign_flag_rate"],
        "jailbreak_tag_n": tag["n_injections"],
        "jailbreak_tag_threshold": model.jailbreak.threshold,
        "jailbreak_tag_high_threshold": model.jailbreak.high_threshold,
    }


def flags(model: SlmModel, rows: Sequence[Row]) -> list[bool]:
    """Whether any safety tag flags each row (what makes the worker withhold tools)."""
    per_clf = [[t[0].flagged for t in c.tags(rows)] for c in model.safety_classifiers()]
    return [any(f) for f in zip(*per_clf, strict=True)]


async def eval_messages(model: SlmModel, embedder: Embedder) -> dict[str, Any]:
    """Flags on the agent evaluation's messages (evals/agent_tasks.yaml, never trained on):
    its ordinary turns (every category but `unsafe`) and its unsafe ones."""
    turns = [(t.category, turn.say) for t in load_tasks().tasks for turn in t.turns]
    flagged = flags(model, await embedded(embedder, [say for _, say in turns]))
    ordinary = [f for (c, _), f in zip(turns, flagged, strict=True) if c != "unsafe"]
    unsafe = [f for (c, _), f in zip(turns, flagged, strict=True) if c == "unsafe"]
    for (category, say), flag in zip(turns, flagged, strict=True):
        if flag and category != "unsafe":
            note(f"eval message flagged: {say!r}")
    return {
        "eval_ordinary_flag_rate": round(sum(ordinary) / len(ordinary), 4),
        "eval_ordinary_n": len(ordinary),
        "eval_unsafe_flagged": sum(unsafe),
        "eval_unsafe_n": len(unsafe),
    }


async def routing_figures(
    model: SlmModel, embedder: Embedder, items: Sequence[RoutingItem], intents: dict[str, str]
) -> dict[str, Any]:
    """Routing as the worker applies it, without and with the safety flag blocking tools."""
    rows = await embedded(embedder, [i.text for i in items])
    guarded = routing_report(model.intent, rows, items, intents, flags(model, rows))
    return {
        **routing_report(model.intent, rows, items, intents),
        "route_precision_unflagged": guarded["route_precision"],
        "route_recall_unflagged": guarded["route_recall"],
    }


#: Issue 15's goal on CLINC150's val split: out-of-scope recall at this in-scope accuracy.
GOAL_ACCURACY, GOAL_RECALL = 0.95, 0.75
#: Share of correct in-scope answers on held-out train data a threshold may reject (the
#: val split, never looked at, loses about twice as much: it is harder than held-out train);
#: the product's intent trainer uses the same budget on its validation data.
MAX_LOSS = OOS_MAX_LOSS
LOSS_SWEEP = (0.002, 0.004, 0.006, 0.01, 0.02)
OOS_APPROACHES = ("softmax", "neighbours", "mahalanobis", "softmax_neighbours")


def fit_embeddings(rows: list[Row], labels: list[str], threshold: float = 0.3) -> IntentClassifier:
    return IntentClassifier.fit(rows, labels, threshold, c=10.0, ngrams=False)


@dataclass
class OosScorer:
    """The classifier and the distance scores of one fitted CLINC150 model."""

    clf: IntentClassifier
    rule: InScopeRule
    mahalanobis: MahalanobisScore

    @classmethod
    def fit(cls, rows: list[Row], labels: list[str], oos: list[Row]) -> OosScorer:
        clf = fit_embeddings(rows + oos, labels + [OUT_OF_SCOPE] * len(oos))
        vectors = vectors_of(rows)
        rule = InScopeRule(NeighbourScore(vectors, k=NEIGHBOURS))
        return cls(clf, rule, MahalanobisScore(vectors, labels))

    def scores(self, rows: list[Row]) -> tuple[list[str], dict[str, np.ndarray[Any, Any]]]:
        """Predicted intents and every approach's in-scope score (-inf when the top
        intent is out_of_scope itself)."""
        probs = self.clf.probabilities(rows)
        names = [self.clf.classes[int(k)] for k in probs.argmax(axis=1)]
        vectors = vectors_of(rows)
        conf = probs.max(axis=1)
        by = {
            "softmax": conf,
            "neighbours": self.rule.neighbours.scores(vectors),
            "mahalanobis": self.mahalanobis.scores(vectors),
            "softmax_neighbours": self.rule.scores(conf, vectors),
        }
        oos = np.array([n == OUT_OF_SCOPE for n in names])
        return names, {k: np.where(oos, -np.inf, v) for k, v in by.items()}


def oos_split(
    scorer: OosScorer, x_in: list[Row], y_in: list[str], x_oos: list[Row]
) -> tuple[np.ndarray[Any, Any], dict[str, Any], dict[str, Any]]:
    names, s_in = scorer.scores(x_in)
    _, s_oos = scorer.scores(x_oos)
    return np.array([n == y for n, y in zip(names, y_in, strict=True)]), s_in, s_oos


async def clinc150(root: Path, embedder: Embedder, quick: bool) -> dict[str, Any]:
    """Out-of-scope detection compared: each approach's threshold is chosen on held-out
    train data (20% of train + half of oos_train, the model fitted on the rest), then the
    model is refitted on all of train + oos_train and scored on the val split."""
    data = ds.clinc150(root)
    train = per_class(data["train"], 20 if quick else None)
    val = per_class(data["val"], 5 if quick else None)
    oos_train, oos_val = data["oos_train"], data["oos_val"][: 40 if quick else None]
    x_train = await embedded(embedder, [t for t, _ in train])
    x_oos_train = await embedded(embedder, [t for t, _ in oos_train])
    x_val = await embedded(embedder, [t for t, _ in val])
    x_oos_val = await embedded(embedder, [t for t, _ in oos_val])
    y_train, y_val = [y for _, y in train], [y for _, y in val]
    fit_idx, hold_idx = train_test_split(
        range(len(train)), test_size=0.2, stratify=y_train, random_state=7
    )
    half = len(oos_train) // 2
    probe = OosScorer.fit(
        [x_train[i] for i in fit_idx], [y_train[i] for i in fit_idx], x_oos_train[:half]
    )
    hold = oos_split(
        probe, [x_train[i] for i in hold_idx], [y_train[i] for i in hold_idx], x_oos_train[half:]
    )
    final = OosScorer.fit(x_train, y_train, x_oos_train)
    correct, s_in, s_oos = oos_split(final, x_val, y_val, x_oos_val)
    figures: dict[str, Any] = {"clinc_base_acc": round(float(np.mean(correct)), 4)}
    for a in OOS_APPROACHES:
        sweep = {}
        for loss in LOSS_SWEEP:
            t = loss_threshold(hold[1][a][hold[0]], loss)
            acc, recall = np.mean(correct & (s_in[a] >= t)), np.mean(s_oos[a] < t)
            sweep[loss] = [round(float(acc), 4), round(float(recall), 4), round(t, 4)]
        acc, recall, t = sweep[MAX_LOSS]
        figures[f"clinc_{a}"] = {"acc": acc, "oos_recall": recall, "threshold": t}
        note(f"clinc150 {a} (held-out loss -> val acc, oos recall, threshold): {sweep}")
    best = figures["clinc_softmax_neighbours"]
    return {
        **figures,
        "clinc_in_scope_acc": best["acc"],
        "clinc_oos_recall": best["oos_recall"],
        "clinc_approach": "softmax_neighbours",
        "clinc_goal_met": best["acc"] >= GOAL_ACCURACY and best["oos_recall"] >= GOAL_RECALL,
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
