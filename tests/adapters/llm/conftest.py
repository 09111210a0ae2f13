"""Chat-model fixtures: profiles on the stack's servers and servers a test owns."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from somaagent.devstack import Stack
from somaagent.devstack.llm_server import (
    DIALOGUE_MODEL,
    FALLBACK_MODEL,
    health_ok,
    server_argv,
)
from somaagent.devstack.weights import artifact_path, load_manifest, manifest_path
from somaagent.domain.llm import ModelProfile
from somaagent.settings import CommonSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnServer:
    """A llama.cpp server process this test starts and stops itself."""

    def __init__(
        self,
        stack: Stack,
        model_key: str,
        log: Path,
        *,
        alias: str | None = None,
        api_key: tuple[str, str] | None = None,
    ) -> None:
        """`api_key` is (environment variable, key): the server then wants that key."""
        manifest = load_manifest(manifest_path(stack.ctx))
        self.model = artifact_path(stack.ctx, manifest.artifact(model_key))
        self.alias = alias or model_key
        self.port = free_port()
        self.log = log
        self.api_key = api_key
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        argv = server_argv(
            self.model,
            port=self.port,
            alias=self.alias,
            n_parallel=1,
            n_ctx=2048,
            threads=2,
            api_key_env=self.api_key[0] if self.api_key else None,
        )
        env = {**os.environ, **dict([self.api_key])} if self.api_key else None
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while not health_ok(self.port):
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "own llama.cpp server did not become ready"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def own_dialogue_server(stack: Stack, tmp_path: Path) -> Iterator[OwnServer]:
    server = OwnServer(stack, DIALOGUE_MODEL, tmp_path / "own-llm.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dialogue_profile(stack: Stack, settings: CommonSettings) -> ModelProfile:
    return ModelProfile(
        name="test-dialogue",
        role="dialogue",
        base_url=settings.llm.dialogue_url(),
        model=DIALOGUE_MODEL,
    )


@pytest.fixture(scope="session")
def small_profile(stack: Stack, settings: CommonSettings) -> ModelProfile:
    return ModelProfile(
        name="test-small",
        role="dialogue",
        base_url=settings.llm.fallback_url(),
        model=FALLBACK_MODEL,
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
