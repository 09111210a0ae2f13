"""Policy fixtures: a real policy engine served by uvicorn in-process, and an OPA of our own.

The engine talks to the stack's OpenFGA and to either the stack's OPA or a private OPA
process (started from the cached binary on a spare port) that a test may stop and restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from somaagent.devstack import Stack
from somaagent.devstack.opa import opa_binary
from somaagent.services.policy_engine import PolicyEngineSettings, create_app
from somaagent.settings import CommonSettings, OpaSettings, repo_root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve_engine(settings: CommonSettings, opa_url: str | None = None) -> AsyncIterator[str]:
    """Run the engine app under uvicorn on a free port; yield its base URL."""
    opa = OpaSettings(url=opa_url, timeout_s=1.0) if opa_url else settings.opa
    engine_settings = PolicyEngineSettings(opa=opa, openfga=settings.openfga)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings=engine_settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="none",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def engine_url(stack: Stack, settings: CommonSettings) -> AsyncIterator[str]:
    async with serve_engine(settings) as url:
        yield url


class OwnOpa:
    """An OPA process serving policies/opa on a spare loopback port; stop() and start() it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            opa_binary(),
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{self.port}",
            "--ignore",
            "*_test.rego",
            str(repo_root() / "policies" / "opa"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with httpx.AsyncClient(timeout=0.5) as http:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/health?bundles")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise RuntimeError("own OPA did not become healthy")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None


@pytest.fixture
async def own_opa(stack: Stack) -> AsyncIterator[OwnOpa]:
    opa = OwnOpa()
    await opa.start()
    try:
        yield opa
    finally:
        await opa.stop()


@pytest.fixture
def tool_request(unique: Callable[[str], str]) -> Callable[..., dict[str, Any]]:
    def make(tenant: str, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "tenant": tenant,
            "persona": "helper",
            "action": "tool.request",
            "resource": "http_fetch",
            "payload": {"url": "https://example.com/page"},
            "context": {},
        }
        body.update(changes)
        return body

    return make
