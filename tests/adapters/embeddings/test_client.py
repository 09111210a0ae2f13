"""The embedding client on the stack's server: a call of several batches, sent several at a
time, gives every text its own vector, in order."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from somaagent.adapters.embeddings import MAX_BATCH, EmbeddingClient
from somaagent.application.slm import CachedEmbedder
from somaagent.application.slm import datasets as ds
from somaagent.devstack import Stack
from somaagent.settings import CommonSettings


@pytest.fixture
async def client(stack: Stack, settings: CommonSettings) -> AsyncIterator[EmbeddingClient]:
    async with EmbeddingClient(settings.embedding.url(), timeout_s=60.0) as client:
        yield client


async def test_a_call_of_several_batches_keeps_every_vector_with_its_text(
    client: EmbeddingClient,
) -> None:
    texts = list(dict.fromkeys(t for t, _ in ds.clinc150(ds.default_datasets_dir())["val"]))
    texts = texts[: 3 * MAX_BATCH + 7]
    together = np.array(await client.embed(texts))
    assert together.shape == (len(texts), 384)
    for i in (0, MAX_BATCH - 1, MAX_BATCH, 2 * MAX_BATCH + 3, len(texts) - 1):
        alone = np.array((await client.embed([texts[i]]))[0])
        assert float(alone @ together[i]) > 0.999, i
    # neighbours in the call are different sentences, not copies of one batch
    assert float(together[0] @ together[MAX_BATCH]) < 0.99


async def test_the_model_id_is_the_served_file_and_names_the_vector_cache(
    client: EmbeddingClient, tmp_path: Path
) -> None:
    model = await client.model_id()
    assert model.startswith("all-minilm-l6-v2-") and "/" not in model
    cached = CachedEmbedder(client, tmp_path / "vectors.sqlite")
    first = await cached.embed(["how do I reset my password", "what's the weather like"])
    assert (tmp_path / f"{model}.sqlite").exists() and not (tmp_path / "vectors.sqlite").exists()
    with sqlite3.connect(tmp_path / f"{model}.sqlite") as db:
        assert db.execute("SELECT count(*) FROM vectors").fetchone() == (2,)
    again = await CachedEmbedder(client, tmp_path / "vectors.sqlite").embed(
        ["what's the weather like"]
    )
    assert np.allclose(again[0], first[1])
