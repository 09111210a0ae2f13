"""Sentence embeddings cached on disk, keyed by the text's hash (training and benches).

Embedding thousands of dataset sentences on two cores takes minutes; each vector is
computed once per model and kept in a SQLite file under the cache directory: one file per
model the server runs when the embedder names it (`model_id`), so vectors of an older
model file are never mixed with the current one's.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from somaagent.domain.slm import Embedder


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@runtime_checkable
class NamedEmbedder(Protocol):
    async def model_id(self) -> str: ...


class CachedEmbedder:
    """Wraps an Embedder; looks texts up in `<path>` first (`<folder>/<model id>.sqlite`
    when the embedder names its model), embeds the rest in batches."""

    def __init__(self, inner: Embedder, path: Path, batch: int = 64) -> None:
        self._inner = inner
        self._path = path
        self._batch = batch
        self._opened = False

    async def _open(self) -> None:
        if self._opened:
            return
        if isinstance(self._inner, NamedEmbedder):
            self._path = self._path.with_name(f"{await self._inner.model_id()}.sqlite")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self._path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB)")
        self._opened = True

    def _lookup(self, keys: list[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        with sqlite3.connect(self._path) as db:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, vec FROM vectors WHERE key IN ({marks})"
                for key, blob in db.execute(query, chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32).tolist()
        return found

    def _store(self, pairs: list[tuple[str, list[float]]]) -> None:
        rows = [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in pairs]
        with sqlite3.connect(self._path) as db:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        await self._open()
        keys = [text_key(t) for t in texts]
        found = await asyncio.to_thread(self._lookup, sorted(set(keys)))
        todo = list({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
        for i in range(0, len(todo), self._batch * 4):
            chunk = todo[i : i + self._batch * 4]
            parts = [chunk[j : j + self._batch] for j in range(0, len(chunk), self._batch)]
            results = await asyncio.gather(*(self._inner.embed([t for _, t in p]) for p in parts))
            pairs = [
                (k, v)
                for p, r in zip(parts, results, strict=True)
                for (k, _), v in zip(p, r, strict=True)
            ]
            await asyncio.to_thread(self._store, pairs)
            found.update(pairs)
        return [found[k] for k in keys]
