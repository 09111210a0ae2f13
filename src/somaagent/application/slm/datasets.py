"""Readers for the public datasets under shared/datasets (read in place, never copied)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

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


#: The prompt-injection set the safety classifier trains on (neuralchemy core, Apache-2.0).
PROMPT_INJECTION_DIR = ("prompt_injection", "neuralchemy")


def prompt_injection_file(root: Path, split: str) -> Path:
    """The parquet file of one split (`train` or `validation`)."""
    return _require(root.joinpath(*PROMPT_INJECTION_DIR) / f"core-{split}.parquet")


def prompt_injection_rows(root: Path, split: str) -> list[dict[str, object]]:
    """Every row of a split with its columns (text, label, category, group_id, ...)."""
    columns = ["text", "label", "category", "group_id"]
    table = pq.read_table(prompt_injection_file(root, split), columns=columns)
    return [r for r in table.to_pylist() if str(r["text"]).strip()]


def prompt_injection(root: Path, split: str) -> list[tuple[str, int]]:
    """neuralchemy prompt-injection data: (text, 1 for an injection or jailbreak, 0 benign)."""
    return [(str(r["text"]), int(str(r["label"]))) for r in prompt_injection_rows(root, split)]


def slabs(root: Path, split: str) -> list[tuple[str, int]]:
    """s-labs prompt-injection detection (MIT): `train` or `validation` as (text, label)."""
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
