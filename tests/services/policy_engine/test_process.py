"""End to end: `soma policy-engine` as its own process, asked through the shared client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

import httpx

from somaagent.application.policy import HttpPolicyClient, PolicyClientSettings
from somaagent.devstack import Stack
from somaagent.domain.policy import PolicyRequest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_healthy(url: str, proc: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(timeout=0.5) as http:
        for _ in range(300):
            assert proc.returncode is None, "soma policy-engine exited early"
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url + "/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError("soma policy-engine never became healthy")


async def test_soma_policy_engine_serves_verdicts(stack: Stack) -> None:
    port = _free_port()
    soma = Path(sys.executable).parent / "soma"
    env = {**os.environ, "SOMA_POLICY_ENGINE__PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        str(soma),
        "policy-engine",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(url, proc)
        async with HttpPolicyClient(PolicyClientSettings(url=url)) as client:
            allowed = await client.evaluate(
                PolicyRequest(
                    tenant="t1", persona="p1", action="tool.request", resource="web_search"
                )
            )
            denied = await client.evaluate(
                PolicyRequest(tenant="t1", persona="p1", action="tool.request", resource="rm_rf")
            )
        assert allowed.allow
        assert len(allowed.constitution_hash) == 64
        assert not denied.allow
        assert denied.reasons == ['unknown tool "rm_rf"']
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    log = output.decode()
    assert "policy.decision" in log
    assert allowed.constitution_hash in log
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert "Application shutdown complete" in log
    assert proc.returncode in (0, -signal.SIGTERM)
