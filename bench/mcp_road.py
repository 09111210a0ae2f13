"""MCP tools: per-call overhead of the platform road, tool-list refresh, restart after kill -9.

    .venv/bin/python bench/mcp_road.py [--quick]

(Not bench/mcp.py: run as a script, that name would shadow the `mcp` SDK package.)

On mcp-server-time's `get_current_time` (a cheap tool), p50/p99 of:
  direct   - the SDK's own stdio client on the server started bare (no sandbox, no platform);
  sandbox  - the platform's MCP client (McpManager) on the server inside bubblewrap;
  road     - a ToolCall published on tool.requests and its ToolResult read from tool.results,
             through an in-process executor (policy gate: OPA + OpenFGA grant, ledger,
             redaction) and the sandboxed server, against the running stack.
The overhead is road minus direct. Then the tool-list refresh (tools/list + catalogue rebuild)
and the time from kill -9 of the server to its next successful call. Ends with one JSON line.
Needs the stack (`make run`) and scripts/mcp_servers.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.mcp import McpCallError, McpManager, McpServerConfig, McpSettings
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.openfga.client import persona_ref, tool_ref
from somaagent.adapters.postgres.migrations import upgrade
from somaagent.devstack.kafka import ensure_topics
from somaagent.domain.event_types import TOOL_CALL_REQUESTED, make_event
from somaagent.domain.events import Envelope
from somaagent.domain.tools import ToolCall, ToolResult
from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings
from somaagent.settings import repo_root

VENV = repo_root() / ".state" / "mcp-venv"
SERVER = [str(VENV / "bin/mcp-server-time"), "--local-timezone", "UTC"]
TOOL, ARGS = "get_current_time", {"timezone": "Asia/Tokyo"}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(name: str, samples: list[float]) -> dict[str, float]:
    return {f"{name}_p50_ms": round(statistics.median(samples), 2),
            f"{name}_p99_ms": round(pct(samples, 0.99), 2)}  # fmt: skip


async def timed(n: int, once: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(3):
        await once()  # warm-up
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await once()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def direct(n: int) -> list[float]:
    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:])
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await timed(n, lambda: session.call_tool(TOOL, ARGS))


def time_server() -> McpServerConfig:
    return McpServerConfig(name="time", command=SERVER, mounts=[VENV])


async def sandboxed(manager: McpManager, n: int, kills: int) -> dict[str, Any]:
    entry = manager.entry(f"time_{TOOL}")
    assert entry is not None
    calls = await timed(n, lambda: manager.call(entry, ARGS))
    refresh = await timed(max(5, n // 10), manager.refresh)
    restarts = []
    server = manager.servers["time"]
    last_pid = None
    for _ in range(kills):
        while server.state != "ready" or server.pid in {None, last_pid}:
            await server.wait_ready(1.0)  # the previous restart is complete
            await asyncio.sleep(0.01)
        last_pid = server.pid
        assert last_pid is not None
        started = time.perf_counter()
        os.kill(last_pid, signal.SIGKILL)
        while True:
            try:
                await manager.call(entry, ARGS, timeout_s=10)
                break
            except McpCallError:  # the calls that fail until the restart
                await asyncio.sleep(0.005)
        restarts.append((time.perf_counter() - started) * 1000)
    return {**figures("sandbox", calls), **figures("refresh", refresh),
            "restart_after_kill_p50_ms": round(statistics.median(restarts), 1),
            "restart_after_kill_max_ms": round(max(restarts), 1), "kills": kills}  # fmt: skip


async def road(n: int) -> tuple[list[float], list[float]]:
    """Round trips on the road, and the executor's own time per call (ToolResult.duration_s:
    policy gate, validation, the MCP call, redaction); the rest is Kafka and the ledger."""
    run = uuid.uuid4().hex[:8]
    base = ToolExecutorSettings()
    schema, requests, results = f"bench_mcp_{run}", f"bench.{run}.tr", f"bench.{run}.tres"
    await upgrade(base.postgres.dsn(), repo_root() / "migrations", schema)
    await ensure_topics(base.kafka.bootstrap, [requests, results, requests + ".dlq"], 1)
    state = repo_root() / ".state" / "bench-mcp" / run
    state.mkdir(parents=True)
    servers = state / "servers.yml"
    servers.write_text(
        json.dumps({"servers": {"time": {"command": SERVER, "mounts": [str(VENV)]}}})
    )
    settings = base.model_copy(update={
        "state_dir": state,
        "postgres": base.postgres.model_copy(update={"db_schema": schema}),
        "redis": base.redis.model_copy(update={"key_prefix": f"bench-{run}:"}),
        "mcp": McpSettings(servers_file=servers),
    })  # fmt: skip
    tenant = f"bench-{run}"
    async with OpenFgaClient(settings.openfga) as fga:
        await fga.write(
            [(persona_ref(tenant, "default"), "user", tool_ref(tenant, f"time_{TOOL}"))]
        )
    service = ToolExecutorService(settings, requests_topic=requests, results_topic=results,
                                  group_id=f"bench-{run}", serve_metrics=False)  # fmt: skip
    try:
        async with service, KafkaEventBus(settings.kafka) as bus:
            task = asyncio.create_task(service.run())
            consumer = AIOKafkaConsumer(results, bootstrap_servers=settings.kafka.bootstrap)
            await consumer.start()
            try:
                inside: list[float] = []
                road_ms = await timed(n, lambda: one_call(bus, consumer, requests, tenant, inside))
                return road_ms, inside[3:]  # the warm-up calls left out, as in timed()
            finally:
                await consumer.stop()
                await service.shutdown()
                await asyncio.wait_for(task, 30)
    finally:
        conn = await asyncpg.connect(base.postgres.dsn())
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
        shutil.rmtree(state, ignore_errors=True)


async def one_call(
    bus: KafkaEventBus, consumer: AIOKafkaConsumer, topic: str, tenant: str, inside: list[float]
) -> None:
    session = uuid.uuid4().hex[:12]
    call = ToolCall(tool=f"time_{TOOL}", arguments=ARGS, session_id=session, tenant_id=tenant,
                    correlation_id="bench", timeout_s=10)  # fmt: skip
    event = make_event(TOOL_CALL_REQUESTED, call, session_id=session, tenant_id=tenant,
                       correlation_id="bench")  # fmt: skip
    await bus.publish(topic, event)
    while True:
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            for rec in records:
                result = ToolResult.model_validate(Envelope.model_validate_json(rec.value).payload)
                if result.request_id == call.request_id:
                    if result.status != "ok":
                        raise RuntimeError(f"road call failed: {result.status} {result.reason}")
                    inside.append((result.duration_s or 0.0) * 1000)
                    return


async def main(args: argparse.Namespace) -> dict[str, Any]:
    direct_ms = await direct(args.calls)
    state = repo_root() / ".state" / "bench-mcp" / uuid.uuid4().hex[:8]
    async with McpManager([time_server()], McpSettings(), state) as manager:
        sandbox = await sandboxed(manager, args.calls, args.kills)
    shutil.rmtree(state, ignore_errors=True)
    road_ms, executor_ms = await road(args.calls)
    out: dict[str, Any] = {"bench": "mcp_road", "calls": args.calls, **figures("direct", direct_ms)}
    out |= sandbox | figures("road", road_ms) | figures("executor", executor_ms)
    out["overhead_p50_ms"] = round(out["road_p50_ms"] - out["direct_p50_ms"], 2)
    out["overhead_p99_ms"] = round(out["road_p99_ms"] - out["direct_p99_ms"], 2)
    out |= {"goal_overhead_p50_ms": 30, "goal_overhead_p99_ms": 80, "goal_restart_ms": 2000,
            "loadavg_1m": round(os.getloadavg()[0], 2)}  # fmt: skip
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 calls, 3 kills (under a minute)")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--kills", type=int, default=10)
    ns = parser.parse_args()
    if ns.quick:
        ns.calls, ns.kills = 50, 3
    started = time.monotonic()
    result = asyncio.run(main(ns))
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
