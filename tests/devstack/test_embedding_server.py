"""The embedding server the launcher starts agrees with sentence-transformers."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.devstack import Stack
from somaagent.devstack.minilm_gguf import phantom_vocab, token_types
from somaagent.domain.errors import BackendUnavailableError, ValidationError
from somaagent.settings import CommonSettings, repo_root

REFERENCE = repo_root().parent / "shared" / "fixtures" / "minilm_reference.json"


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture(scope="module")
def reference() -> dict[str, list[str] | list[list[float]]]:
    data: dict[str, list[str] | list[list[float]]] = json.loads(REFERENCE.read_text())
    return data


@pytest.fixture
async def client(stack: Stack, settings: CommonSettings) -> EmbeddingClient:
    return EmbeddingClient(settings.embedding.url(), timeout_s=30.0)


async def test_vectors_match_the_sentence_transformers_reference(
    client: EmbeddingClient, reference: dict[str, Any]
) -> None:
    ref = reference
    async with client:
        vectors = await client.embed(ref["sentences"])
    assert len(vectors) == len(ref["sentences"]) > 10
    for sentence, got, want in zip(ref["sentences"], vectors, ref["embeddings"], strict=True):
        assert len(got) == 384
        assert cosine(got, want) >= 0.999, sentence


async def test_unrelated_sentences_are_further_apart_than_paraphrases(
    client: EmbeddingClient,
) -> None:
    async with client:
        a, b, c = await client.embed(
            ["turn off the lights", "switch the lights off", "what is my account balance"]
        )
    assert cosine(a, b) > cosine(a, c) + 0.3


async def test_blank_input_is_refused_with_its_index(client: EmbeddingClient) -> None:
    async with client:
        with pytest.raises(ValidationError, match=r"texts\[1\]"):
            await client.embed(["fine", "  "])


async def test_a_closed_port_is_reported_as_unavailable() -> None:
    async with EmbeddingClient("http://127.0.0.1:9", timeout_s=1.0) as client:
        with pytest.raises(BackendUnavailableError):
            await client.embed(["hello"])


def test_wordpiece_vocab_is_rewritten_for_llama_cpp_bert() -> None:
    raw = ["[PAD]", "[CLS]", "[unused0]", "play", "##ing", "jazz"]
    assert phantom_vocab(raw) == ["[PAD]", "[CLS]", "[unused0]", "\u2581play", "ing", "\u2581jazz"]
    types = token_types(raw, {"[PAD]", "[CLS]"})
    assert types[:3] == [3, 3, 5] and types[3:] == [1, 1, 1]
