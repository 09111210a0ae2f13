"""A turn interrupted again and again (its handler cancelled mid-step, as the consumer's
rebalance drain does) restarts up to MAX_RESTARTS attempts, then ends failed with a reason
instead of starting from scratch once more."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg

from somaagent.application.conversation.runner import MAX_RESTARTS
from somaagent.domain.event_types import MESSAGE_RECEIVED, MessageReceived, make_event
from somaagent.domain.events import Envelope
from somaagent.services.conversation_worker import ConversationWorker, WorkerSettings
from somaagent.settings import CommonSettings

from .conftest import watch_turn


def outcome(task: asyncio.Task[str]) -> str:
    return repr(task.exception()) if task.exception() else task.result()


async def interrupt(worker: ConversationWorker, event: Envelope, pg: asyncpg.Pool, n: int) -> None:
    """Run the message's step until attempt `n` is claimed, then cancel it."""
    handling = asyncio.create_task(worker.runner.on_message(event))
    query = "SELECT attempt FROM turn_state WHERE correlation_id = $1 AND status = 'running'"
    async with asyncio.timeout(30):
        while await pg.fetchval(query, event.correlation_id) != n:
            if handling.done():
                raise AssertionError(
                    f"attempt {n} ended before it was interrupted: {outcome(handling)}"
                )
            await asyncio.sleep(0.01)
    # cancelled until it ends: a cancel can be swallowed once (3.11's wait_for returns the
    # result of an inner call that finished in the same loop step)
    while not handling.done():
        handling.cancel()
        await asyncio.sleep(0.01)
    with contextlib.suppress(asyncio.CancelledError):
        await handling


async def test_a_turn_interrupted_past_the_limit_fails_with_a_reason(
    worker_settings: WorkerSettings, settings: CommonSettings, pg_pool: asyncpg.Pool
) -> None:
    correlation = uuid.uuid4().hex
    event = make_event(
        MESSAGE_RECEIVED,
        MessageReceived(text="Write a poem of eight lines about the sea."),
        session_id=f"sess-{correlation[:12]}",
        tenant_id="tenant-restarts",
        correlation_id=correlation,
    )
    async with ConversationWorker(worker_settings) as worker:
        for attempt in range(1, MAX_RESTARTS + 1):
            await interrupt(worker, event, pg_pool, attempt)
        assert await worker.runner.on_message(event) == "restart"

    row = await pg_pool.fetchrow(
        "SELECT status, attempt FROM turn_state WHERE correlation_id = $1", correlation
    )
    assert row is not None and (row["status"], row["attempt"]) == ("failed", MAX_RESTARTS + 1)
    watch = await watch_turn(settings, worker_settings.topics.outbound, correlation, timeout_s=30)
    final = watch.final()
    assert final["status"] == "error" and final["attempt"] == MAX_RESTARTS + 1
    assert f"interrupted {MAX_RESTARTS} times" in final["reason"]
    restarted = [u["attempt"] for u in watch.updates if u["status"] == "restarted"]
    # an attempt may be cancelled before it announced itself; none past the limit ran
    assert set(restarted) <= set(range(2, MAX_RESTARTS + 1))
    assert max(u["attempt"] for u in watch.updates) == MAX_RESTARTS + 1
    assert not [u for u in watch.updates if u["status"] == "completed"]
