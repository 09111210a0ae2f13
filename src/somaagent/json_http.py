"""JSON over HTTP on aiohttp, for the policy path's small, frequent calls.

One decision is three such calls (client -> engine -> OPA, and OpenFGA when the policy asks
for a relationship). On this machine httpx spends about 0.93 ms of CPU per small POST and
aiohttp 0.22 ms (docs/benchmarks.md, Policy), so these clients use aiohttp; the rest of the
code base keeps httpx.

The session opens on first use, inside the running loop, as aiohttp requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from somaagent.closing import AsyncClosing
from somaagent.domain.errors import BackendError, BackendTimeoutError, BackendUnavailableError

_JSON = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class JsonResponse:
    name: str
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; BackendError (naming the server and status) when it is not."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise BackendError(
                f"{self.name}: {self.status} reply is not JSON: {self.text[:200]!r}"
            ) from exc


class JsonHttp(AsyncClosing):
    """Pooled keep-alive connections to one or a few servers; a timeout on every call.

    `name` starts every error message ("opa did not answer within 2.0s").
    """

    def __init__(
        self, name: str, *, timeout_s: float, max_connections: int, keepalive_s: float
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise BackendUnavailableError(f"{self.name}: the client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_s
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> JsonResponse:
        """Send `json` (serialised here) or `content` as the body; read the whole reply.

        BackendTimeoutError past the timeout, BackendUnavailableError when the server cannot
        be reached or drops the connection. Any status is returned, not raised.
        """
        body = orjson.dumps(json) if json is not None else content
        sent = {**_JSON, **headers} if headers else _JSON
        try:
            async with self._open().request(method, url, data=body, headers=sent) as resp:
                return JsonResponse(self.name, resp.status, await resp.read())
        except TimeoutError as exc:
            message = f"{self.name} did not answer within {self.timeout_s}s"
            raise BackendTimeoutError(message) from exc
        except aiohttp.ClientError as exc:
            raise BackendUnavailableError(f"{self.name} unreachable at {url}: {exc!r}") from exc

    async def post(self, url: str, **kwargs: Any) -> JsonResponse:
        return await self.request("POST", url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> JsonResponse:
        return await self.request("GET", url, **kwargs)


__all__ = ["JsonHttp", "JsonResponse"]
