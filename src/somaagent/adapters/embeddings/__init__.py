"""Sentence embeddings from an OpenAI-compatible model server."""

from somaagent.adapters.embeddings.client import MAX_BATCH, EmbeddingClient

__all__ = ["MAX_BATCH", "EmbeddingClient"]
