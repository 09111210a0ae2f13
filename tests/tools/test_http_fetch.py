"""http_fetch against a real HTTP server on loopback that this test starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from somaagent.domain.errors import ToolError
from somaagent.domain.tools import ToolCall
from somaagent.settings import repo_root
from somaagent.tools import ToolOutput, parse_arguments
from somaagent.tools.http_fetch import HttpFetch, load_allowed_domains

BIG = b"x" * (1024 * 1024)


@dataclass
class Server:
    port: int
    paths: list[str] = field(default_factory=list)


def response(status: str, body: bytes, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    return head.encode() + body


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1].decode()
        state.paths.append(path)
        if path == "/hello":
            writer.write(
                response("200 OK", "héllo".encode(), "Content-Type: text/plain; charset=utf-8\r\n")
            )
        elif path == "/big":
            writer.write(response("200 OK", BIG))
        elif path == "/away":
            where = f"Location: http://localhost:{state.port}/hello\r\n"
            writer.write(response("302 Found", b"", where))
        else:
            writer.write(response("404 Not Found", b"nope"))
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield state


@pytest.fixture
async def tool() -> AsyncIterator[HttpFetch]:
    fetch = HttpFetch(frozenset({"127.0.0.1"}), timeout_s=5)
    yield fetch
    await fetch.aclose()


async def fetch(tool: HttpFetch, url: str, **extra: object) -> ToolOutput:
    call = ToolCall(tool="http_fetch", arguments={"url": url, **extra}, session_id="s",
                    tenant_id="t", correlation_id="c")  # fmt: skip
    return await tool.run(call, parse_arguments(tool, call.arguments))


async def test_allowed_host_is_fetched(tool: HttpFetch, server: Server) -> None:
    out = await fetch(tool, f"http://127.0.0.1:{server.port}/hello")
    assert (out.status, out.stdout, out.truncated) == ("ok", "héllo", False)
    assert out.data is not None and out.data["status"] == 200


async def test_body_is_capped(tool: HttpFetch, server: Server) -> None:
    out = await fetch(tool, f"http://127.0.0.1:{server.port}/big", max_bytes=4096)
    assert (len(out.stdout), out.truncated) == (4096, True)


async def test_http_error_status_is_an_error_result(tool: HttpFetch, server: Server) -> None:
    out = await fetch(tool, f"http://127.0.0.1:{server.port}/missing")
    assert out.data is not None
    assert (out.status, out.data["status"]) == ("error", 404)


async def test_other_host_is_refused_without_traffic(tool: HttpFetch, server: Server) -> None:
    # "localhost" resolves to this very server: had the tool connected, the server would know.
    with pytest.raises(ToolError, match="not on the allow-list"):
        await fetch(tool, f"http://localhost:{server.port}/hello")
    assert server.paths == []


async def test_redirect_off_the_list_is_refused(tool: HttpFetch, server: Server) -> None:
    with pytest.raises(ToolError, match="localhost"):
        await fetch(tool, f"http://127.0.0.1:{server.port}/away")
    assert server.paths == ["/away"]


def test_allow_list_comes_from_the_policy_bundle() -> None:
    allowed = load_allowed_domains(repo_root() / "policies")
    assert "python.org" in allowed
    assert "127.0.0.1" not in allowed
