"""The default persona's SLM model, trained once per run exactly as `soma slm train` does.

Embeddings come from the stack's embedding server through the shared on-disk cache, which
`soma provision` has already filled, so training takes seconds (about a minute cold).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.application.slm import CachedEmbedder, SlmModel, default_routing_path, train_persona
from somaagent.application.slm.datasets import default_datasets_dir
from somaagent.cli.slm import embedding_cache_path, training_data
from somaagent.devstack import Stack
from somaagent.settings import CommonSettings, repo_root

DEFAULT_NLU = repo_root() / "personas" / "default" / "nlu.yml"


@pytest.fixture(scope="session")
async def client(stack: Stack, settings: CommonSettings) -> AsyncIterator[EmbeddingClient]:
    async with EmbeddingClient(settings.embedding.url(), timeout_s=60.0) as client:
        yield client


@pytest.fixture(scope="session")
async def model(client: EmbeddingClient, settings: CommonSettings) -> SlmModel:
    data = training_data("default", DEFAULT_NLU, default_routing_path(), default_datasets_dir())
    return await train_persona(data, CachedEmbedder(client, embedding_cache_path(settings)))
