"""The gateway against its own OpenAPI document, fuzzed by schemathesis with an admin key and
a user key: no example gets a server error and every documented response fits its schema.

The gateway runs as `soma gateway`, its own process on a free loopback port, over the
stack's servers, this run's schema and fresh topics (a chat completion it accepts waits
1 s for a worker that is not there and answers 504). Examples are bounded per operation.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from somaagent.devstack.kafka import ensure_topics
from somaagent.settings import CommonSettings

SOMA = [sys.executable, "-m", "somaagent.cli.main"]
CHECKS = [not_a_server_error, response_schema_conformance]
EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class GatewayProcess:
    base_url: str
    proc: subprocess.Popen[bytes]
    log: Path
    keys: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(gw: GatewayProcess) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert gw.proc.poll() is None, gw.log.read_text()[-3000:]
        try:
            if httpx.get(f"{gw.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"gateway not healthy:\n{gw.log.read_text()[-3000:]}")


def _key(env: dict[str, str], tenant: str, role: str) -> str:
    done = subprocess.run(
        [*SOMA, "keys", "create", "--tenant", tenant, "--role", role, "--subject", role],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def gateway_process(
    settings: CommonSettings, migrated: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    run = uuid.uuid4().hex[:8]
    inbound, outbound = f"test.fuzz.{run}.inbound", f"test.fuzz.{run}.outbound"
    asyncio.run(ensure_topics(settings.kafka.bootstrap, [inbound, outbound], 2))
    port = _free_port()
    state = tmp_path_factory.mktemp("fuzz-gateway")
    env = {
        **os.environ,
        "SOMA_STATE_DIR": str(state),
        "SOMA_POSTGRES__DB_SCHEMA": migrated,
        "SOMA_GATEWAY__PORT": str(port),
        "SOMA_GATEWAY__INBOUND_TOPIC": inbound,
        "SOMA_GATEWAY__OUTBOUND_TOPIC": outbound,
        "SOMA_OPENAI__TURN_TIMEOUT_S": "1",
    }
    tenant = f"fuzz-{run}"
    keys = {role: _key(env, tenant, role) for role in ("admin", "user")}
    log = state / "gateway.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*SOMA, "gateway"], env=env, stdout=out, stderr=subprocess.STDOUT)
    gw = GatewayProcess(f"http://127.0.0.1:{port}", proc, log, keys)
    try:
        _wait_healthy(gw)
        yield gw
        assert proc.poll() is None, "the gateway died under fuzzing:\n" + log.read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def fuzz(gw: GatewayProcess, role: str) -> tuple[dict[str, int], list[str]]:
    """Every operation of the gateway's OpenAPI document, with valid and invalid examples;
    returns the calls made per operation and what failed (operation, mode: the message)."""
    schema = schemathesis.openapi.from_url(f"{gw.base_url}/openapi.json")
    failures: list[str] = []
    calls: dict[str, int] = {}
    for found in schema.get_all_operations():
        operation = found.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @EXAMPLES
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
                case.call_and_validate(headers=gw.headers(role), checks=CHECKS, timeout=15)

            try:
                check()
            except Unsatisfiable:  # nothing to get wrong (an operation with no parameters)
                continue
            except (AssertionError, schemathesis.errors.SchemathesisError) as exc:
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")
    return calls, failures


@pytest.mark.parametrize("role", ["admin", "user"])
def test_no_server_error_and_only_documented_shapes(
    role: str, gateway_process: GatewayProcess
) -> None:
    calls, failures = fuzz(gateway_process, role)
    assert failures == []
    assert len(calls) >= 25 and sum(calls.values()) >= 150, calls
