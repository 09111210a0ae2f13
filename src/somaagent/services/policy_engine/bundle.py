"""The constitution hash: sha256 over the Rego bundle, the OpenFGA model and the constitution.

It names the exact policy text in force and appears in every verdict and log line. The
files are re-read when their size or mtime changes (checked at most once per interval),
so an edit that OPA's `--watch` picks up also changes the hash the engine reports.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

_Signature = tuple[tuple[str, int, int], ...]


def bundle_files(policies_dir: Path) -> list[Path]:
    """The files the hash covers, in a stable order (Rego tests excluded)."""
    opa = policies_dir / "opa"
    files = [
        p
        for p in opa.rglob("*")
        if p.is_file() and p.suffix in {".rego", ".json"} and not p.name.endswith("_test.rego")
    ]
    files += [policies_dir / "openfga" / "model.json", policies_dir / "constitution.md"]
    return sorted((p for p in files if p.is_file()), key=lambda p: p.as_posix())


def constitution_hash(policies_dir: Path) -> str:
    """sha256 over each covered file's relative path and bytes."""
    digest = hashlib.sha256()
    for path in bundle_files(policies_dir):
        digest.update(path.relative_to(policies_dir).as_posix().encode() + b"\0")
        data = path.read_bytes()
        digest.update(str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


class ConstitutionWatch:
    """The current constitution hash, refreshed when the files change."""

    def __init__(self, policies_dir: Path, *, interval_s: float = 1.0) -> None:
        if not (policies_dir / "constitution.md").is_file():
            raise FileNotFoundError(f"{policies_dir}/constitution.md is missing")
        self.policies_dir = policies_dir
        self.interval_s = interval_s
        self._signature: _Signature = ()
        self._hash = ""
        self._checked = 0.0
        self.refresh()

    def _scan(self) -> _Signature:
        out = []
        for path in bundle_files(self.policies_dir):
            stat = path.stat()
            out.append((path.as_posix(), stat.st_mtime_ns, stat.st_size))
        return tuple(out)

    def refresh(self) -> str:
        signature = self._scan()
        if signature != self._signature:
            self._hash = constitution_hash(self.policies_dir)
            self._signature = signature
        self._checked = time.monotonic()
        return self._hash

    @property
    def current(self) -> str:
        if time.monotonic() - self._checked >= self.interval_s:
            return self.refresh()
        return self._hash
