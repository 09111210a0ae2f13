"""Sandbox start overhead over a bare process, and small-call throughput.

    .venv/bin/python bench/sandbox.py [--quick]

For each backend: p50/p95 of running `python3 -I -c pass` in a fresh sandbox, against the
same command started bare (no sandbox) on this host; the overhead is the difference of the
p50s (and p95s). Then bubblewrap throughput: small calls (`print(1)`) with as many in flight
as the executor's default concurrency allows x2. Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from somaagent.adapters.sandbox import BwrapSandbox, GvisorSandbox
from somaagent.domain.tools import SandboxLimits, SandboxSpec, ToolSandbox
from somaagent.tools.workspace import Workspaces

#: The same interpreter bare and sandboxed (the sandbox sees the host's /usr read-only).
PROGRAM = ["/usr/bin/python3", "-I", "-c", "pass"]


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(runs: int, once: Callable[[], Awaitable[object]]) -> list[float]:
    await once()  # warm caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await once()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def bare() -> None:
    proc = await asyncio.create_subprocess_exec(*PROGRAM)
    await proc.wait()


def sandboxed(
    sandbox: ToolSandbox, workdir: Path, code: str = "pass"
) -> Callable[[], Awaitable[object]]:
    spec = SandboxSpec(argv=[*PROGRAM[:3], code], workdir=str(workdir), limits=SandboxLimits())

    async def once() -> None:
        result = await sandbox.run(spec)
        if result.status != "ok":
            raise RuntimeError(f"sandbox run failed: {result}")

    return once


async def throughput(sandbox: ToolSandbox, workdir: Path, calls: int, concurrency: int) -> float:
    once = sandboxed(sandbox, workdir, "print(1)")
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with slots:
            await once()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return calls / (time.perf_counter() - started)


def summary(name: str, samples: list[float], base: list[float]) -> dict[str, float]:
    p50, p95 = pct(samples, 0.5), pct(samples, 0.95)
    return {
        f"{name}_p50_ms": round(p50, 1),
        f"{name}_p95_ms": round(p95, 1),
        f"{name}_overhead_p50_ms": round(p50 - statistics.median(base), 1),
        f"{name}_overhead_p95_ms": round(p95 - pct(base, 0.95), 1),
    }


async def main(quick: bool) -> dict[str, object]:
    runs, gv_runs, calls = (30, 10, 40) if quick else (200, 40, 300)
    concurrency = 2 * (os.cpu_count() or 1)
    root = Path(tempfile.mkdtemp(prefix="soma-bench-"))
    try:
        workdir = Workspaces(root).ensure("bench", "bench")
        bwrap, gvisor = BwrapSandbox(), GvisorSandbox(root / "gvisor")
        base = await timed(runs, bare)
        figures: dict[str, object] = {"bench": "sandbox", "quick": quick, "runs": runs}
        figures["bare_p50_ms"] = round(statistics.median(base), 1)
        figures["bare_p95_ms"] = round(pct(base, 0.95), 1)
        figures |= summary("bwrap", await timed(runs, sandboxed(bwrap, workdir)), base)
        figures |= summary("gvisor", await timed(gv_runs, sandboxed(gvisor, workdir)), base)
        figures["bwrap_calls_per_s"] = round(
            await throughput(bwrap, workdir, calls, concurrency), 1
        )
        figures["concurrency"] = concurrency
        figures["cpus"] = os.cpu_count()
        return figures
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    figures = asyncio.run(main(parser.parse_args().quick))
    print(json.dumps(figures))
