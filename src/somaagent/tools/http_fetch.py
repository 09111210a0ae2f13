"""http_fetch: GET a URL on an allow-listed domain; the body comes back capped.

The allow-list is the policy's (`http_allowed_domains` in the policy bundle's data, the same
list OPA's rule C2 checks): a host is allowed when it equals a listed domain or is a
subdomain of one. A host that is not allowed is refused before any DNS lookup or connection,
and so is every redirect hop that leaves the list. The body is streamed and cut at
`max_bytes` (the result says truncated).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Final
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from somaagent.domain.errors import ToolError
from somaagent.domain.tools import ToolCall
from somaagent.tools.base import ToolOutput

MAX_REDIRECTS: Final = 3
POLICY_DATA: Final = Path("opa") / "soma" / "config" / "data.json"


def load_allowed_domains(policies_dir: Path) -> frozenset[str]:
    """The policy bundle's http_allowed_domains (blocking read: call at start-up)."""
    data = json.loads((policies_dir / POLICY_DATA).read_text())
    return frozenset(str(d).lower() for d in data.get("http_allowed_domains", []))


def host_allowed(url: str, allowed: frozenset[str]) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"http", "https"} or not host:
        return False
    return any(host == d or host.endswith("." + d) for d in allowed)


class HttpFetchArgs(BaseModel):
    """Fetch a web page or file by URL (allow-listed domains only)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8, max_length=2048, pattern=r"^https?://", description="http(s) URL"
    )
    max_bytes: int = Field(default=256 * 1024, ge=1024, le=2 * 1024 * 1024)


class HttpFetch:
    """The http_fetch tool."""

    name: ClassVar[str] = "http_fetch"
    description: ClassVar[str] = (
        "Fetch a URL with HTTP GET and return the status and the beginning of the body. "
        "Only allow-listed domains can be fetched."
    )
    arguments: ClassVar[type[BaseModel]] = HttpFetchArgs

    def __init__(self, allowed_domains: frozenset[str], timeout_s: float = 10.0) -> None:
        self.allowed = allowed_domains
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self, call: ToolCall, args: HttpFetchArgs) -> ToolOutput:
        url = args.url
        for _ in range(MAX_REDIRECTS + 1):
            if not host_allowed(url, self.allowed):
                raise ToolError(f"url: host of {url!r} is not on the allow-list")
            status, headers, body, truncated = await self._get(url, args.max_bytes)
            if status in {301, 302, 303, 307, 308} and "location" in headers:
                url = urljoin(url, headers["location"])
                continue
            return ToolOutput(
                status="ok" if status < 400 else "error",
                stdout=_decode(body, headers),
                truncated=truncated,
                data={"url": url, "status": status, "content_type": headers.get("content-type")},
            )
        raise ToolError(f"url: more than {MAX_REDIRECTS} redirects")

    async def _get(self, url: str, cap: int) -> tuple[int, dict[str, str], bytes, bool]:
        body = bytearray()
        truncated = False
        try:
            async with self._client.stream("GET", url) as response:
                async for chunk in response.aiter_bytes():
                    body.extend(chunk[: cap - len(body)])
                    if len(body) >= cap:
                        truncated = True
                        break
                headers = {k.lower(): v for k, v in response.headers.items()}
                return response.status_code, headers, bytes(body), truncated
        except httpx.TimeoutException as exc:
            raise ToolError(f"url: {url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ToolError(f"url: fetching {url} failed: {exc}") from exc


def _decode(body: bytes, headers: dict[str, str]) -> str:
    charset = "utf-8"
    for part in headers.get("content-type", "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")
