"""Bench the policy path: /v1/evaluate through the shared client, and each layer alone.

    .venv/bin/python -m bench.policy [--quick]

Starts `soma policy-engine` as its own process on a free loopback port, on the stack's
real OPA and OpenFGA. Measures, sequentially: OPA alone (decision document), OpenFGA
alone (one check), the client with a cache miss (web_search: OPA only; http_fetch: OPA +
one OpenFGA check), the client on a cache hit; then decisions/s with concurrent cache
misses. Goal: client-side p99 <= 5 ms. Prints figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from somaagent.adapters.opa import OpaClient
from somaagent.adapters.openfga import OpenFgaClient, persona_ref, tool_ref
from somaagent.application.policy import HttpPolicyClient, PolicyClientSettings
from somaagent.domain.policy import PolicyRequest
from somaagent.settings import CommonSettings

TENANT = f"bench-{uuid.uuid4().hex[:8]}"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, samples: list[float]) -> dict[str, float]:
    fig = {
        f"{name}_p50_ms": round(percentile(samples, 0.5) * 1000, 3),
        f"{name}_p99_ms": round(percentile(samples, 0.99) * 1000, 3),
    }
    print(
        f"{name:<28} n={len(samples):<6} p50 {fig[f'{name}_p50_ms']:7.3f} ms"
        f"   p99 {fig[f'{name}_p99_ms']:7.3f} ms"
    )
    return fig


async def timed(n: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    for i in range(min(20, n)):  # warm connections and caches
        await call(-1 - i)
    out = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - started)
    return out


def request(i: int, tool: str = "web_search") -> PolicyRequest:
    payload = {"url": f"https://example.com/{i}"} if tool == "http_fetch" else {"query": f"q{i}"}
    return PolicyRequest(
        tenant=TENANT, persona="bench", action="tool.request", resource=tool, payload=payload
    )


@contextlib.asynccontextmanager
async def engine_process() -> AsyncIterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    soma = Path(sys.executable).parent / "soma"
    env = {**os.environ, "SOMA_POLICY_ENGINE__PORT": str(port), "SOMA_LOG_LEVEL": "warning"}
    proc = await asyncio.create_subprocess_exec(
        str(soma),
        "policy-engine",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=0.5) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url + "/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()


async def throughput(client: HttpPolicyClient, seconds: float, workers: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await client.evaluate(request(next(counter)), use_cache=False)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / (time.perf_counter() - started)


async def run(quick: bool) -> dict[str, Any]:
    settings = CommonSettings()
    n = 300 if quick else 3000
    figures: dict[str, Any] = {"bench": "policy", "quick": quick, "n": n}
    async with OpaClient(settings.opa) as opa, OpenFgaClient(settings.openfga) as fga:
        grant = (persona_ref(TENANT, "bench"), "user", tool_ref(TENANT, "http_fetch"))
        await fga.write([grant])
        opa_input = request(0).model_dump(mode="json")
        figures |= summary("opa_alone", await timed(n, lambda i: opa.decide(opa_input)))
        figures |= summary("openfga_alone", await timed(n, lambda i: fga.check(*grant)))
        async with (
            engine_process() as url,
            HttpPolicyClient(PolicyClientSettings(url=url)) as client,
        ):
            miss = await timed(n, lambda i: client.evaluate(request(i), use_cache=False))
            figures |= summary("client_miss_opa", miss)
            both = await timed(
                n, lambda i: client.evaluate(request(i, "http_fetch"), use_cache=False)
            )
            figures |= summary("client_miss_opa_fga", both)
            hit = await timed(n, lambda i: client.evaluate(request(0)))
            figures |= summary("client_cache_hit", hit)
            rate = await throughput(client, 5.0 if quick else 20.0, workers=16)
            figures["decisions_per_s_c16"] = round(rate, 1)
            print(f"{'decisions/s (16 concurrent misses)':<28} {rate:8.1f}")
        await fga.delete([grant])
    figures["goal_client_p99_ms"] = 5.0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    args = parser.parse_args()
    figures = asyncio.run(run(args.quick))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
