"""The safety classifier's data: injections against benign traffic, in three folds.

Benign traffic is what an assistant really receives: CLINC150 in-scope requests (its
small_talk domain is the chit-chat) and out-of-scope ones, BANKING77, NLU++ texts, the
benign side of neuralchemy (hard negatives included), the persona's NLU examples and the
routing set's ordinary messages. Injections are neuralchemy's label-1 rows and the routing
set's injection attempts. Folds never share a text:

    source        train                      validation              test
    neuralchemy   core-train, 80% of groups  core-train, the other   core-validation
    clinc150      train split, 8 per intent  train split, 3 other    val split, 4 per intent
    clinc150 oos  oos_train, half            oos_train, other half   oos_val
    banking77     400 (hash order)           next 300                next 400
    nlupp         banking+hotels folds 0-1   folds 2-3               folds 12-15
    persona NLU   all                        -                       -
    routing set   its train part             its validation part     its test part

The jailbreak category is neuralchemy's `jailbreak` rows (a subset of the injections).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from somaagent.application.slm import datasets as ds
from somaagent.application.slm.folds import Fold, fold_of, hash_order, per_label, slice_fold
from somaagent.application.slm.nlu_data import NluData
from somaagent.application.slm.routing_set import RoutingSet

BENIGN, INJECTION = 0, 1
NEURALCHEMY_VALIDATION_SHARE = 0.2
CLINC_PER_INTENT = {"train": 8, "validation": 3, "test": 4}
BANKING_SIZES = (400, 300, 400)
NLUPP_FOLDS = {"train": (0, 1), "validation": (2, 3), "test": (12, 13, 14, 15)}
NLUPP_DOMAINS = ("banking", "hotels")
#: s-labs train.csv rows (hash order) for train and validation; its validation.csv is test.
SLABS_SIZES = (2000, 800)
SLABS_LABELS = (0, 1)
#: neuralchemy's categories the `jailbreak` tag is trained to catch: requests to drop the
#: model's rules (harmful asks with adversarial suffixes, role play, many-shot, crescendo).
JAILBREAK_CATEGORIES = frozenset({"jailbreak", "persona_replacement", "crescendo", "many_shot"})


@dataclass(frozen=True)
class SafetyExample:
    text: str
    label: int
    category: str
    source: str


def neuralchemy(root: Path, fold: Fold) -> list[SafetyExample]:
    if fold == "test":
        rows = ds.prompt_injection_rows(root, "validation")
    else:
        rows = [
            r
            for r in ds.prompt_injection_rows(root, "train")
            if fold_of(str(r["group_id"]), NEURALCHEMY_VALIDATION_SHARE, 0.0, "nc") == fold
        ]
    return [
        SafetyExample(str(r["text"]), int(str(r["label"])), str(r["category"]), "neuralchemy")
        for r in rows
    ]


def clinc150(root: Path, fold: Fold) -> list[SafetyExample]:
    data = ds.clinc150(root)
    if fold == "test":
        rows = per_label(data["val"], CLINC_PER_INTENT["test"], salt="clinc")
        oos = data["oos_val"]
    else:
        skip = 0 if fold == "train" else CLINC_PER_INTENT["train"]
        rows = per_label(data["train"], CLINC_PER_INTENT[fold], skip, salt="clinc")
        oos = [r for r in data["oos_train"] if fold_of(r[0], 0.5, 0.0, "oos") == fold]
    return [SafetyExample(t, BENIGN, "benign", "clinc150") for t, _ in rows] + [
        SafetyExample(t, BENIGN, "benign", "clinc150_oos") for t, _ in oos
    ]


def banking77(root: Path, fold: Fold) -> list[SafetyExample]:
    texts = hash_order(sorted({t for t, _ in ds.banking77(root)}), lambda t: t, "banking")
    return [
        SafetyExample(t, BENIGN, "benign", "banking77")
        for t in slice_fold(texts, fold, BANKING_SIZES)
    ]


def nlupp(root: Path, fold: Fold) -> list[SafetyExample]:
    return [
        SafetyExample(text, BENIGN, "benign", "nlupp")
        for domain in NLUPP_DOMAINS
        for f in NLUPP_FOLDS[fold]
        for text, _ in ds.nlupp_fold(root, domain, f)
    ]


def slabs(root: Path, fold: Fold) -> list[SafetyExample]:
    if fold == "test":
        rows = ds.slabs(root, "validation")
    else:
        ordered = hash_order(ds.slabs(root, "train"), lambda r: r[0], "slabs")
        rows = slice_fold(ordered, fold, (*SLABS_SIZES, 0))
    return [
        SafetyExample(t, y, "direct_injection" if y else "benign", "slabs")
        for t, y in rows
        if y in SLABS_LABELS
    ]


def routing(routing_set: RoutingSet, fold: Fold) -> list[SafetyExample]:
    return [
        SafetyExample(
            item.text,
            INJECTION if item.injection else BENIGN,
            "direct_injection" if item.injection else "benign",
            "routing",
        )
        for item in routing_set.part(fold)
    ]


def safety_examples(
    root: Path, fold: Fold, routing_set: RoutingSet | None = None, nlu: NluData | None = None
) -> list[SafetyExample]:
    """Every example of one fold, deduplicated by text (the first source keeps it)."""
    rows = [
        *neuralchemy(root, fold),
        *clinc150(root, fold),
        *banking77(root, fold),
        *nlupp(root, fold),
        *slabs(root, fold),
    ]
    if routing_set is not None:
        rows += routing(routing_set, fold)
    if nlu is not None and fold == "train":
        rows += [SafetyExample(e.text, BENIGN, "benign", "persona_nlu") for e in nlu.examples]
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row.text not in seen:
            seen.add(row.text)
            unique.append(row)
    return unique


def data_files(root: Path) -> list[Path]:
    """The dataset files the safety classifier reads (their digest versions the model)."""
    return [
        ds.prompt_injection_file(root, "train"),
        root / "clinc150" / "data_full_train_val.json",
        root / "banking77" / "train.csv",
        root / "prompt_injection" / "s-labs" / "train.csv",
        *(
            root / "nlupp" / d / f"fold{f}.json"
            for d in NLUPP_DOMAINS
            for f in (*NLUPP_FOLDS["train"], *NLUPP_FOLDS["validation"])
        ),
    ]
