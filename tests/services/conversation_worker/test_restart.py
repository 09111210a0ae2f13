"""Kill -9 the worker mid-stream, start another: the turn completes once, as a second
attempt that watchers can tell apart, and Postgres holds it exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import asyncpg

from somaagent.domain.event_types import MESSAGE_RECEIVED, TURN_COMPLETED
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings

from .conftest import Send, watch_turn


def worker_env(ws: WorkerSettings) -> dict[str, str]:
    return {
        **os.environ,
        "SOMA_POSTGRES__DB_SCHEMA": ws.postgres.db_schema,
        "SOMA_TOPICS__INBOUND": ws.topics.inbound,
        "SOMA_TOPICS__OUTBOUND": ws.topics.outbound,
        "SOMA_TOPICS__TOOL_REQUESTS": ws.topics.tool_requests,
        "SOMA_TOPICS__TOOL_RESULTS": ws.topics.tool_results,
        "SOMA_WORKER__GROUP_ID": ws.worker.group_id,
        "SOMA_WORKER__METRICS_PORT": "0",
        "SOMA_WORKER__ANSWER_MAX_TOKENS": "120",
        "SOMA_WORKER__SLM_EMBED_TIMEOUT_S": "5",
        "SOMA_POLICY__URL": ws.policy.url,
    }


async def start_worker(ws: WorkerSettings, lines: list[bytes]) -> asyncio.subprocess.Process:
    """`soma worker conversation` as its own process; returns once it consumes. Its output
    keeps flowing into `lines` (shown when an assertion fails)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "somaagent.cli.main",
        "worker",
        "conversation",
        env=worker_env(ws),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    started = asyncio.Event()

    async def drain(stream: asyncio.StreamReader) -> None:
        async for line in stream:
            lines.append(line)
            if b"consumer.started" in line:
                started.set()

    DRAINS.add(asyncio.create_task(drain(proc.stdout)))
    try:
        await asyncio.wait_for(started.wait(), 60)
    except TimeoutError:
        raise AssertionError(b"".join(lines[-30:]).decode()) from None
    return proc


DRAINS: set[asyncio.Task[None]] = set()


async def test_kill_9_mid_stream_then_restart_completes_the_turn_once(
    worker_settings: WorkerSettings,
    settings: CommonSettings,
    send: Send,
    pg_pool: asyncpg.Pool,
) -> None:
    output: list[bytes] = []
    first = await start_worker(worker_settings, output)
    try:
        _, correlation = await send("Write a poem of eight lines about the sea.", "tenant-crash")
        await watch_turn(
            settings,
            worker_settings.topics.outbound,
            correlation,
            until=lambda u: u["status"] == "streaming" and u["seq"] >= 4,
        )
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        await first.wait()

    second = await start_worker(worker_settings, output)
    try:
        watch = await watch_turn(settings, worker_settings.topics.outbound, correlation)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 60)

    final = watch.final()
    assert final["status"] == "completed", watch.updates[-3:]
    assert watch.attempts() == {1, 2}
    restarted = [u for u in watch.updates if u["status"] == "restarted"]
    assert len(restarted) == 1 and restarted[0]["attempt"] == 2 and restarted[0]["seq"] == 0
    assert final["attempt"] == 2
    # the second attempt's deltas alone rebuild the text, with no gaps or repeats
    second_seqs = [u["seq"] for u in watch.updates if u["attempt"] == 2]
    assert second_seqs == list(range(len(second_seqs)))
    assert watch.text_of_last_attempt() == final["text"]

    rows = await pg_pool.fetch(
        "SELECT type FROM events WHERE correlation_id = $1 ORDER BY seq", correlation
    )
    assert [r["type"] for r in rows] == [MESSAGE_RECEIVED, TURN_COMPLETED]
    state = await pg_pool.fetchrow(
        "SELECT status, attempt FROM turn_state WHERE correlation_id = $1", correlation
    )
    assert state is not None and (state["status"], state["attempt"]) == ("completed", 2)
