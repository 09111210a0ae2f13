"""Token counts from the serving model itself: llama.cpp's POST /tokenize.

`{"content": "..."}` -> `{"tokens": [...]}`; counts are exactly what the model's own
tokenizer produces. Recent counts are memoised (bounded) so a session's history is not
re-tokenised on every turn.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

import httpx

from somaagent.domain.errors import BackendTimeoutError, BackendUnavailableError, ModelError

MEMO_SIZE: Final = 4096


class LlamaTokenCounter:
    """TokenCounter against a llama.cpp server root URL (e.g. http://127.0.0.1:18090)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 5.0,
        concurrency: int = 4,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        self._url = (root.removesuffix("/v1")) + "/tokenize"
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None
        self._gate = asyncio.Semaphore(concurrency)
        self._memo: OrderedDict[bytes, int] = OrderedDict()

    async def count(self, texts: Sequence[str]) -> list[int]:
        """Token counts of each text, in order."""
        return list(await asyncio.gather(*(self._one(t) for t in texts)))

    async def _one(self, text: str) -> int:
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        async with self._gate:
            n = await self._tokenize(text)
        self._memo[key] = n
        if len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)
        return n

    async def _tokenize(self, text: str) -> int:
        try:
            resp = await self._client.post(self._url, json={"content": text})
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(f"tokenize timed out at {self._url}") from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"tokenize unreachable at {self._url}: {exc}") from exc
        if resp.status_code != 200:
            raise ModelError(f"tokenize answered {resp.status_code}: {resp.text[:200]}")
        tokens = resp.json().get("tokens")
        if not isinstance(tokens, list):
            raise ModelError("tokenize answered without a tokens list")
        return len(tokens)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
