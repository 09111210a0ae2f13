"""Out-of-scope scores on real CLINC150 sentences embedded by the stack's server."""

from __future__ import annotations

import numpy as np
import pytest

from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.application.slm import datasets as ds
from somaagent.application.slm.ood import MahalanobisScore, NeighbourScore, loss_threshold
from somaagent.domain.errors import ValidationError

INTENTS = ("balance", "weather", "alarm", "translate")


async def clinc_vectors(
    client: EmbeddingClient,
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    data = ds.clinc150(ds.default_datasets_dir())
    train = [(t, y) for t, y in data["train"] if y in INTENTS]
    val = [t for t, y in data["val"] if y in INTENTS][:40]
    oos = [t for t, _ in data["oos_val"]][:40]
    x_train = np.array(await client.embed([t for t, _ in train]))
    return (
        x_train,
        [y for _, y in train],
        np.array(await client.embed(val)),
        np.array(await client.embed(oos)),
    )


async def test_in_scope_sentences_score_above_out_of_scope_ones(client: EmbeddingClient) -> None:
    x_train, labels, x_val, x_oos = await clinc_vectors(client)
    for scorer in (NeighbourScore(x_train, k=5), MahalanobisScore(x_train, labels, 0.05)):
        s_val, s_oos = scorer.scores(x_val), scorer.scores(x_oos)
        # a threshold that keeps 95% of the in-scope sentences rejects most unrelated ones
        t = float(np.quantile(s_val, 0.05))
        assert np.mean(s_oos < t) >= 0.8, type(scorer).__name__
        assert np.median(s_val) > np.median(s_oos)


async def test_a_training_sentence_is_its_own_nearest_neighbour(client: EmbeddingClient) -> None:
    x_train, _, _, _ = await clinc_vectors(client)
    scores = NeighbourScore(x_train, k=1).scores(x_train[:10])
    assert np.allclose(scores, 1.0, atol=1e-4)


def test_the_loss_threshold_rejects_at_most_the_budget_of_correct_answers() -> None:
    scores = np.linspace(0.0, 1.0, 1001)
    t = loss_threshold(scores, 0.01)
    assert np.mean(scores < t) <= 0.01
    assert np.mean(scores < t) >= 0.009
    assert loss_threshold(scores, 0.0) == 0.0
    with pytest.raises(ValidationError, match="max_loss"):
        loss_threshold(scores, 1.0)
    with pytest.raises(ValidationError, match="correct_scores"):
        loss_threshold([], 0.01)


def test_mahalanobis_needs_one_label_per_vector() -> None:
    with pytest.raises(ValidationError, match="labels"):
        MahalanobisScore(np.eye(3), ["a", "b"])
