"""Bench the policy path: /v1/evaluate through the shared client, and each layer alone.

    .venv/bin/python -m bench.policy [--quick]

Starts `soma policy-engine` as its own process on a free loopback port, on the stack's
real OPA and OpenFGA. Measures, sequentially: OPA alone (decision document), OpenFGA
alone (one check), the client with a cache miss (web_search: OPA only; http_fetch: OPA +
one OpenFGA check), the client on a cache hit (plain, and with the Redis relationship
epoch read on every hit); then cache-miss OPA + OpenFGA decisions with 1, 16 and 64
concurrent callers (p50/p99 per decision, and decisions/s). Goal: client-side p99 <= 5 ms
at one caller. Prints the load average (the machine is shared), figures, then one JSON line.
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
import redis.asyncio as aioredis

from somaagent.adapters.opa import OpaClient
from somaagent.adapters.openfga import OpenFgaClient, persona_ref, tool_ref
from somaagent.adapters.redis.policy_epoch import RedisPolicyEpoch
from somaagent.application.policy import HttpPolicyClient, PolicyClientSettings
from somaagent.domain.policy import PolicyRequest
from somaagent.settings import CommonSettings

TENANT = f"bench-{uuid.uuid4().hex[:8]}"
CALLERS = (1, 16, 64)


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
                if proc.returncode is not None:
                    raise RuntimeError(f"soma policy-engine exited {proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url + "/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"soma policy-engine did not become healthy at {url}")
        yield url
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await proc.wait()


async def concurrent(client: HttpPolicyClient, callers: int, total: int) -> dict[str, float]:
    """`total` cache-miss OPA + OpenFGA decisions shared by `callers` concurrent callers."""
    counter = iter(range(10**9))
    samples: list[float] = []
    failed: list[str] = []  # fail-closed denials (engine timeout or error): counted, not hidden

    async def caller() -> None:
        for _ in range(total // callers):
            call = request(next(counter), "http_fetch")
            started = time.perf_counter()
            verdict = await client.evaluate(call, use_cache=False)
            samples.append(time.perf_counter() - started)
            if not verdict.allow:
                failed.append("; ".join(verdict.reasons))

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    rate = len(samples) / (time.perf_counter() - started)
    figures = summary(f"miss_opa_fga_c{callers}", samples)
    figures[f"decisions_per_s_c{callers}"] = round(rate, 1)
    figures[f"denied_c{callers}"] = len(failed)
    print(f"{'  decisions/s, denied':<28} {rate:8.1f}  {len(failed)} {failed[:1]}")
    return figures


async def client_figures(url: str, n: int) -> dict[str, Any]:
    """Everything measured through the shared client against the engine at `url`."""
    figures: dict[str, Any] = {}
    settings = CommonSettings()
    rd = aioredis.Redis(host=settings.redis.host, port=settings.redis.port)
    epoch = RedisPolicyEpoch(rd, key_prefix=f"bench:{TENANT}:")
    async with (
        HttpPolicyClient(PolicyClientSettings(url=url)) as client,
        HttpPolicyClient(PolicyClientSettings(url=url), epoch=epoch) as epoch_client,
    ):
        miss = await timed(n, lambda i: client.evaluate(request(i), use_cache=False))
        figures |= summary("client_miss_opa", miss)
        both = await timed(n, lambda i: client.evaluate(request(i, "http_fetch"), use_cache=False))
        figures |= summary("client_miss_opa_fga", both)
        figures |= summary(
            "client_cache_hit", await timed(n, lambda i: client.evaluate(request(0)))
        )
        hits = await timed(n, lambda i: epoch_client.evaluate(request(0)))
        figures |= summary("client_cache_hit_epoch", hits)
        for callers in CALLERS:
            figures |= await concurrent(client, callers, max(n, 10 * callers))
    await rd.aclose()
    return figures


async def run(quick: bool) -> dict[str, Any]:
    settings = CommonSettings()
    n = 300 if quick else 3000
    figures: dict[str, Any] = {"bench": "policy", "quick": quick, "n": n}
    figures["loadavg_start"] = round(os.getloadavg()[0], 2)
    print(f"load average (1 min) at start: {figures['loadavg_start']}")
    async with OpaClient(settings.opa) as opa, OpenFgaClient(settings.openfga) as fga:
        grant = (persona_ref(TENANT, "bench"), "user", tool_ref(TENANT, "http_fetch"))
        await fga.write([grant])
        opa_input = request(0).model_dump(mode="json")
        figures |= summary("opa_alone", await timed(n, lambda i: opa.decide(opa_input)))
        figures |= summary("openfga_alone", await timed(n, lambda i: fga.check(*grant)))
        async with engine_process() as url:
            figures |= await client_figures(url, n)
        await fga.delete([grant])
    figures["loadavg_end"] = round(os.getloadavg()[0], 2)
    print(f"load average (1 min) at end: {figures['loadavg_end']}")
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
