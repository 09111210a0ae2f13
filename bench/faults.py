"""Fault campaign: kill and restart everything while conversations run; count what was lost.

    .venv/bin/python -m bench.faults [--quick] [--faults N] [--sessions S] [--keep]

Runs on a second, private stack (bench/faults_stack.py: its own Kafka, PostgreSQL, Redis,
OPA, OpenFGA and supervised platform processes, started by `soma up` under settings that
point it at other ports and `.state/faults-stack`; the model servers are the shared
stack's), never on the shared one. While S sessions talk to its gateway
(bench/faults_traffic.py), it takes N faults at random moments, one at a time: kill -9 of a
random instance of each platform process (conversation worker, tool executor, gateway,
policy engine; the supervisor starts it again) and a restart of each server (Kafka,
PostgreSQL, Redis, OPA, OpenFGA), waiting after each until everything is up again. Then it
stops the traffic, waits for quiet (every accepted turn ended and no consumer lag, or
`--quiet-s`) and counts from the event store and the topics (bench/faults_ledger.py):
accepted, completed, failed with a visible reason, lost, duplicated, lag left.
Prints one JSON line at the end. `--quick`: 6 faults (the four process kinds and two
servers), 2 sessions. `--keep` leaves the private stack running (a next run starts faster).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.faults_ledger import (
    consumer_lag,
    executed_requests,
    read_topic,
    stored_turns,
    tally,
    terminal_updates,
    tool_duplicates,
)
from bench.faults_stack import PROCESSES, SERVERS, Fault, PrivateStack, default_state_dir
from bench.faults_traffic import Traffic
from somaagent.adapters.postgres.pool import open_pool
from somaagent.domain.constants import (
    TOPIC_CONVERSATION_OUTBOUND,
    TOPIC_TOOL_REQUESTS,
    TOPIC_TOOL_RESULTS,
)

TENANT = "faults-bench"
PROFILE = "dialogue-qwen-0.5b"
RECOVERY_S = 240.0


def plan(count: int, rng: random.Random) -> list[str]:
    """`count` targets; every process kind and server comes once before any comes again
    (a quick run of 6: the four process kinds and two servers)."""
    targets: list[str] = []
    while len(targets) < count:
        servers = rng.sample(SERVERS, len(SERVERS))
        kinds = rng.sample(PROCESSES, len(PROCESSES))
        targets += rng.sample(kinds + servers[:2], 6) + servers[2:]
    return targets[:count]


async def take(stack: PrivateStack, target: str, rng: random.Random, started: float) -> Fault:
    """One fault, then wait until the whole private stack is up again."""
    at = time.monotonic() - started
    if target in PROCESSES:
        victim = rng.choice(stack.instances(target))
        detail = await asyncio.to_thread(stack.kill9, victim)
        kind, name = "kill -9", victim.name
    else:
        detail = await asyncio.to_thread(stack.restart, target)
        kind, name = "restart", target
    recovered = await asyncio.to_thread(stack.wait_all_up, RECOVERY_S)
    took = time.monotonic() - started - at
    fault = Fault(kind, name, round(at, 1), round(took, 1), detail + ("" if recovered else ", !up"))
    sys.stderr.write(f"{fault.at_s:7.1f}s {kind} {name}: {fault.detail} ({fault.took_s}s)\n")
    return fault


async def campaign(stack: PrivateStack, traffic: Traffic, args: argparse.Namespace) -> list[Fault]:
    rng = random.Random(args.seed)
    faults: list[Fault] = []
    for target in plan(args.faults, rng):
        await asyncio.sleep(rng.uniform(*args.gap_s))
        faults.append(await take(stack, target, rng, traffic.started))
    return faults


async def until_quiet(stack: PrivateStack, traffic: Traffic, timeout_s: float) -> float:
    """Wait until every accepted turn has ended and no group lags (or the timeout)."""
    started = time.monotonic()
    pool = await open_pool(stack.settings.postgres)
    try:
        while time.monotonic() - started < timeout_s:
            ids = [t.correlation_id for t in traffic.accepted]
            ended = await stored_turns(pool, ids)
            lag = await consumer_lag(stack.settings.kafka.bootstrap)
            if len(ended) == len(ids) and not any(lag.values()):
                break
            await asyncio.sleep(5.0)
    finally:
        await pool.close()
    return round(time.monotonic() - started, 1)


async def count(stack: PrivateStack, traffic: Traffic) -> dict[str, Any]:
    bootstrap = stack.settings.kafka.bootstrap
    ids = [t.correlation_id for t in traffic.accepted]
    pool = await open_pool(stack.settings.postgres)
    try:
        stored, ran = await stored_turns(pool, ids), await executed_requests(pool)
    finally:
        await pool.close()
    outbound = await read_topic(bootstrap, TOPIC_CONVERSATION_OUTBOUND)
    tools = tool_duplicates(
        await read_topic(bootstrap, TOPIC_TOOL_REQUESTS),
        await read_topic(bootstrap, TOPIC_TOOL_RESULTS),
        ran,
    )
    result = tally(ids, stored, terminal_updates(outbound), tools)
    result.lag = await consumer_lag(bootstrap)
    return result.summary()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = PrivateStack(Path(args.state_dir), args.workers, args.executors)
    up_started = time.monotonic()
    await asyncio.to_thread(stack.up)
    up_s = round(time.monotonic() - up_started, 1)
    key = await asyncio.to_thread(stack.admin_key, TENANT)
    await asyncio.to_thread(stack.use_profile, TENANT, PROFILE)
    traffic = Traffic(stack.gateway_url, key, args.sessions)
    driving = asyncio.create_task(traffic.run())
    try:
        faults = await campaign(stack, traffic, args)
        await asyncio.sleep(args.gap_s[1])  # traffic after the last fault too
    finally:
        traffic.stop.set()
    await asyncio.wait_for(driving, traffic.turn_wait_s + 30)
    quiet_s = await until_quiet(stack, traffic, args.quiet_s)
    figures = await count(stack, traffic)
    if not args.keep:
        await asyncio.to_thread(stack.down)
    return {
        "faults": len(faults),
        "kills": sum(1 for f in faults if f.kind == "kill -9"),
        "restarts": sum(1 for f in faults if f.kind == "restart"),
        "not_recovered": [f.target for f in faults if f.detail.endswith("!up")],
        "recovery_s_max": max((f.took_s for f in faults), default=0.0),
        **figures,
        "posts_retried": traffic.refused,
        "campaign_s": round(time.monotonic() - traffic.started, 1),
        "quiet_after_s": quiet_s,
        "stack_up_s": up_s,
        "sessions": args.sessions,
        "workers": args.workers,
        "executors": args.executors,
        "seed": args.seed,
    }


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--faults", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executors", type=int, default=1)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--quiet-s", type=float, default=300.0)
    parser.add_argument("--state-dir", default=str(default_state_dir()))
    parser.add_argument("--keep", action="store_true", help="leave the private stack running")
    args = parser.parse_args(argv)
    args.gap_s = (5.0, 20.0)
    if args.quick:
        args.faults, args.sessions, args.gap_s = 6, 2, (2.0, 6.0)
    return args


if __name__ == "__main__":
    result = asyncio.run(run(options()))
    for name, value in result.items():
        sys.stderr.write(f"{name}: {value}\n")
    sys.stdout.write(json.dumps(result) + "\n")
