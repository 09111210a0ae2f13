"""Readers for the public datasets under shared/datasets (read in place, never copied)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from somaagent.domain.errors import ValidationError
from somaagent.settings import repo_root


def default_datasets_dir() -> Path:
    return repo_root().parent / "shared" / "datasets"


def _require(path: Path) -> Path:
    if not path.exists():
        raise ValidationError("datasets", f"{path} does not exist")
    return path


def file_digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(_require(path).read_bytes())
    return digest.hexdigest()


def prompt_injection(root: Path, split: str) -> list[tuple[str, int]]:
    """s-labs prompt-injection data (MIT): (text, 1 for an injection, 0 for benign)."""
    path = _require(root / "prompt_injection" / "s-labs" / f"{split}.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        return [(r["text"], int(r["label"])) for r in csv.DictReader(fh) if r["text"].strip()]


def clinc150(root: Path) -> dict[str, list[tuple[str, str]]]:
    """CLINC150 (CC BY 3.0): train, val, oos_train, oos_val as (text, intent)."""
    data = json.loads(_require(root / "clinc150" / "data_full_train_val.json").read_text())
    return {k: [(t, i) for t, i in v] for k, v in data.items()}


def banking77(root: Path) -> list[tuple[str, str]]:
    """BANKING77 (CC BY 4.0) train.csv as (text, category)."""
    path = _require(root / "banking77" / "train.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        return [(r["text"], r["category"]) for r in csv.DictReader(fh)]


def nlupp_fold(root: Path, domain: str, fold: int) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """NLU++ (CC BY 4.0) fold as (text, [(slot, start, end)])."""
    items = json.loads(_require(root / "nlupp" / domain / f"fold{fold}.json").read_text())
    out: list[tuple[str, list[tuple[str, int, int]]]] = []
    for item in items:
        spans = [(name, s["span"][0], s["span"][1]) for name, s in item.get("slots", {}).items()]
        out.append((item["text"], spans))
    return out
