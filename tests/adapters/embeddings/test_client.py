"""The embedding client on the stack's server: a call of several batches, sent several at a
time, gives every text its own vector, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from somaagent.adapters.embeddings import MAX_BATCH, EmbeddingClient
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
