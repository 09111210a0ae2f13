"""Async client for an OpenAI-compatible /v1/embeddings endpoint (llama.cpp, vLLM)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

import httpx

from somaagent.closing import AsyncClosing
from somaagent.domain.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ModelError,
    ValidationError,
)

#: Inputs per request; the server embeds them as one batch.
MAX_BATCH = 64
#: Batch requests of one `embed` call in flight at once: while the server embeds one, the
#: next is already sent and the last one's JSON is parsed here, so its slots never idle.
IN_FLIGHT = 3
#: Word pieces of one input that are embedded; longer inputs are cut, as
#: sentence-transformers does for all-MiniLM-L6-v2 (max_seq_length 256, [CLS] and [SEP]
#: included). The server refuses inputs over its context instead of cutting them.
MAX_INPUT_TOKENS = 254


class EmbeddingClient(AsyncClosing):
    """Sentence embeddings over HTTP; one pooled connection set, a timeout on every call."""

    def __init__(self, base_url: str, timeout_s: float = 2.0, model: str = "minilm") -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )
        self._model = model
        self._model_id: str | None = None
        self.timeout_s = timeout_s

    async def aclose(self) -> None:
        await self._client.aclose()

    async def model_id(self) -> str:
        """The model file the server runs, without folder and extension (asked once): a
        changed file (weights, quantisation, converter) gives a different id."""
        if self._model_id is None:
            try:
                resp = await self._client.get("/v1/models")
            except httpx.HTTPError as exc:
                raise BackendUnavailableError(f"embedding server /v1/models failed: {exc}") from exc
            try:
                self._model_id = PurePath(str(resp.json()["data"][0]["id"])).stem
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                status = resp.status_code
                raise ModelError(f"embedding server /v1/models answered {status}") from exc
        return self._model_id

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; batches of MAX_BATCH per request."""
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValidationError(f"texts[{i}]", "must be a non-empty string")
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(start: int) -> list[list[float]]:
            async with gate:
                return await self._embed_batch(list(texts[start : start + MAX_BATCH]))

        batches = await asyncio.gather(*(one(s) for s in range(0, len(texts), MAX_BATCH)))
        return [vector for batch in batches for vector in batch]

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        return await self._post_batch([await self._cut(text) for text in batch])

    async def _cut(self, text: str) -> str:
        """`text` cut to MAX_INPUT_TOKENS word pieces (the server's own tokenizer). A text of
        at most that many characters has at most that many pieces and is sent as it is."""
        if len(text) <= MAX_INPUT_TOKENS:
            return text
        tokens = (await self._call("/tokenize", {"content": text, "add_special": False}))["tokens"]
        if len(tokens) <= MAX_INPUT_TOKENS:
            return text
        body = await self._call("/detokenize", {"tokens": tokens[:MAX_INPUT_TOKENS]})
        return str(body["content"])

    async def _call(self, path: str, payload: dict[str, Any]) -> Any:
        try:
            resp = await self._client.post(path, json=payload)
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"embedding server {path} failed: {exc}") from exc
        if resp.status_code != 200:
            raise ModelError(f"embedding server {path} answered {resp.status_code}")
        return resp.json()

    async def _post_batch(self, batch: list[str]) -> list[list[float]]:
        try:
            resp = await self._client.post(
                "/v1/embeddings", json={"input": batch, "model": self._model}
            )
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(
                f"embedding server did not answer within {self.timeout_s}s"
            ) from exc
        except httpx.TransportError as exc:
            raise BackendUnavailableError(f"embedding server unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise ModelError(f"embedding server answered {resp.status_code}: {resp.text[:200]}")
        return _vectors(resp.json(), len(batch))


def _vectors(body: Any, expected: int) -> list[list[float]]:
    try:
        items = sorted(body["data"], key=lambda d: d["index"])
        vectors = [list(map(float, d["embedding"])) for d in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"embedding server sent a malformed body: {exc}") from exc
    if len(vectors) != expected:
        raise ModelError(f"embedding server sent {len(vectors)} vectors for {expected} inputs")
    return vectors
