"""Deterministic folds: a text (or group id) lands in the same part on every machine.

Training, threshold choice and reporting each get their own part of every dataset, chosen
by a hash of a key rather than by a random generator, so a fresh CI machine, the bench and
the provisioned model all see the same split, and adding an item moves no other item.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, TypeVar

Fold = Literal["train", "validation", "test"]
FOLDS: tuple[Fold, ...] = ("train", "validation", "test")

T = TypeVar("T")


def unit(key: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by `key` (and `salt`)."""
    digest = hashlib.sha256(f"{salt}|{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fold_of(key: str, validation: float, test: float, salt: str = "") -> Fold:
    """`test` share of keys go to test, `validation` share to validation, the rest to train."""
    u = unit(key, salt)
    if u < test:
        return "test"
    return "validation" if u < test + validation else "train"


def hash_order(rows: Iterable[T], key: Callable[[T], str], salt: str = "") -> list[T]:
    """The rows in the order of their keys' hashes (a fixed shuffle)."""
    return sorted(rows, key=lambda r: unit(key(r), salt))


def slice_fold(rows: Sequence[T], fold: Fold, sizes: tuple[int, int, int]) -> list[T]:
    """Consecutive slices of (already ordered) rows: the first `sizes[0]` are train, the
    next `sizes[1]` validation, the next `sizes[2]` test."""
    start = sum(sizes[: FOLDS.index(fold)])
    return list(rows[start : start + sizes[FOLDS.index(fold)]])


def per_label(
    rows: Iterable[tuple[str, str]], n: int, skip: int = 0, salt: str = ""
) -> list[tuple[str, str]]:
    """`n` rows of every label, after skipping `skip` of them, in hash order per label."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        groups[row[1]].append(row)
    return [
        r
        for label in sorted(groups)
        for r in hash_order(groups[label], lambda r: r[0], salt)[skip : skip + n]
    ]
