"""JsonHttp against real loopback servers: replies, timeouts, refusals, bodies that are not JSON."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from somaagent.domain.errors import BackendError, BackendTimeoutError, BackendUnavailableError
from somaagent.json_http import JsonHttp

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _reply(writer: asyncio.StreamWriter, status: str, body: bytes) -> None:
    head = f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
    writer.write(head + body)
    await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return await reader.readexactly(length)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_a_json_reply_round_trips_with_its_status(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await _read_request(reader)
        await _reply(writer, "201 Created", b'{"got": ' + body + b"}")
        writer.close()

    url = await serve(echo)
    async with JsonHttp("echo", timeout_s=2.0, max_connections=2, keepalive_s=1.0) as http:
        resp = await http.post(url, json={"a": [1, "ü"]})
    assert resp.status == 201
    assert resp.json() == {"got": {"a": [1, "ü"]}}


async def test_a_server_that_never_answers_is_a_timeout_naming_the_server(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(3)
        writer.close()

    url = await serve(silent)
    async with JsonHttp("opa", timeout_s=0.3, max_connections=2, keepalive_s=1.0) as http:
        with pytest.raises(BackendTimeoutError, match=r"^opa did not answer within 0.3s$"):
            await http.post(url, json={})


async def test_a_closed_port_is_unavailable_and_a_body_that_is_not_json_is_a_backend_error(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/x"

    async def html(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await _reply(writer, "502 Bad Gateway", b"<html>bad gateway</html>")
        writer.close()

    url = await serve(html)
    async with JsonHttp("openfga", timeout_s=2.0, max_connections=2, keepalive_s=1.0) as http:
        with pytest.raises(BackendUnavailableError, match=r"^openfga unreachable at "):
            await http.get(closed)
        resp = await http.get(url)
        assert resp.status == 502
        with pytest.raises(BackendError, match=r"^openfga: 502 reply is not JSON: '<html>"):
            resp.json()
    with pytest.raises(BackendUnavailableError, match="client is closed"):
        await http.get(url)
