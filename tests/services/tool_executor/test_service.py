"""`soma worker tools` end to end: requests over Kafka, results over Kafka, state in Postgres."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import asyncpg
from redis.asyncio import Redis

from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.application.policy import HttpPolicyClient
from somaagent.application.policy.requeue import RequeueService
from somaagent.domain.event_types import TOOL_CALL_REQUESTED, make_event
from somaagent.domain.events import Envelope
from somaagent.domain.tools import ToolCall
from somaagent.services.tool_executor import ToolExecutorService
from somaagent.settings import CommonSettings

from .helpers import read, request, results_of


async def test_runs_code_and_returns_attachments(
    running_executor: ToolExecutorService,
    executor_topics: list[str],
    settings: CommonSettings,
    pg_pool: asyncpg.Pool,
    unique: Callable[[str], str],
) -> None:
    requests, results, _ = executor_topics
    session = unique("s")
    ok = request(session, "code_execution", language="shell", code="echo hi; printf abc > out.txt")
    fails = request(session, "code_execution", language="python", code="raise SystemExit('no')")
    async with KafkaEventBus(settings.kafka) as bus:
        for ev in (ok, fails):
            await bus.publish(requests, ev)
    found = results_of(await read(settings, results, 2))
    (good,) = found[ok.payload["request_id"]]
    assert (good.status, good.exit_code, good.stdout, good.truncated) == ("ok", 0, "hi\n", False)
    (att,) = good.attachments
    assert (att.name, att.size, att.sha256) == ("out.txt", 3, hashlib.sha256(b"abc").hexdigest())
    content = await pg_pool.fetchval(
        "SELECT content FROM attachments WHERE sha256 = $1", att.sha256
    )
    assert bytes(content) == b"abc"
    (bad,) = found[fails.payload["request_id"]]
    assert (bad.status, bad.exit_code, bad.stderr) == ("error", 1, "no\n")
    assert good.duration_s > 0


async def test_redelivered_request_is_not_run_twice(
    running_executor: ToolExecutorService,
    executor_topics: list[str],
    settings: CommonSettings,
    unique: Callable[[str], str],
) -> None:
    requests, results, _ = executor_topics
    session = unique("s")
    once = request(
        session, "code_execution", language="shell", code="echo run >> runs; wc -l < runs"
    )
    count = request(session, "code_execution", language="shell", code="wc -l < runs")
    async with KafkaEventBus(settings.kafka) as bus:
        await bus.publish(requests, once)
        await bus.publish(requests, once)  # a redelivery: same event, same request id
        await bus.publish(requests, count)
    found = results_of(await read(settings, results, 3))
    first, second = found[once.payload["request_id"]]
    assert first == second
    assert first.stdout == "1\n"
    (after,) = found[count.payload["request_id"]]
    assert after.stdout == "1\n"  # the tool ran exactly once


async def test_bad_requests_get_reasons(
    running_executor: ToolExecutorService,
    executor_topics: list[str],
    settings: CommonSettings,
    unique: Callable[[str], str],
) -> None:
    requests, results, _ = executor_topics
    session = unique("s")
    unknown = request(session, "rm_rf")
    invalid = request(session, "code_execution", language="cobol", code="DISPLAY 1")
    malformed = Envelope(type="tool.call.requested", session_id=session, tenant_id="tenant-x",
                         payload={"tool": "code_execution"})  # fmt: skip
    async with KafkaEventBus(settings.kafka) as bus:
        for ev in (unknown, invalid, malformed):
            await bus.publish(requests, ev)
    found = results_of(await read(settings, results, 2))
    (u,) = found[unknown.payload["request_id"]]
    assert u.status == "denied"
    assert u.reason is not None and "unknown tool" in u.reason
    (i,) = found[invalid.payload["request_id"]]
    assert i.status == "invalid"
    assert i.reason is not None and "language" in i.reason
    (dead,) = await read(settings, requests + ".dlq", 1)
    reason = dict(dead.headers)["dlq_reason"].decode()
    assert reason.startswith("malformed: payload.session_id: Field required")
    assert Envelope.model_validate_json(dead.value).event_id == malformed.event_id


async def test_denied_request_is_held_and_runs_once_released(
    *,
    running_executor: ToolExecutorService,
    executor_topics: list[str],
    settings: CommonSettings,
    pg_pool: asyncpg.Pool,
    redis_client: Redis,
    redis_prefix: str,
    unique: Callable[[str], str],
) -> None:
    requests, results, blocked = executor_topics
    session = unique("s")
    # C3 of the constitution: code_execution may not ask for more than 120 s.
    call = ToolCall(
        tool="code_execution", arguments={"language": "shell", "code": "echo released"},
        session_id=session, tenant_id="tenant-x", correlation_id="turn-1", timeout_s=300,
    )  # fmt: skip
    event = make_event(
        TOOL_CALL_REQUESTED, call, session_id=session, tenant_id="tenant-x", correlation_id="t"
    )
    async with KafkaEventBus(settings.kafka) as bus:
        await bus.publish(requests, event)
        (held,) = await read(settings, blocked, 1)
        blocked_event = Envelope.model_validate_json(held.value)
        requeue_id = blocked_event.payload["requeue_id"]
        assert blocked_event.payload["action"] == "tool.execute"
        (denied,) = results_of(await read(settings, results, 1))[call.request_id]
        assert denied.status == "denied"
        assert denied.reason is not None and requeue_id in denied.reason and "C3" in denied.reason
        store = PostgresRequeueStore(pg_pool, redis_client, key_prefix=redis_prefix)
        async with (
            OpenFgaClient(settings.openfga) as fga,
            HttpPolicyClient(running_executor.settings.policy) as policy,
        ):
            service = RequeueService(store, policy, bus, fga)
            item = await service.get(requeue_id, "tenant-x")
            verdict = item.verdict.model_copy(update={"allow": True, "reasons": ["test admin"]})
            await service.release(requeue_id, "user:admin", "reviewed", verdict, "requeue.allowed")
    found = results_of(await read(settings, results, 2))[call.request_id]
    assert [r.status for r in found] == ["denied", "ok"]
    assert found[1].stdout == "released\n"


async def test_document_query_reads_a_produced_attachment(
    running_executor: ToolExecutorService,
    executor_topics: list[str],
    settings: CommonSettings,
    unique: Callable[[str], str],
) -> None:
    requests, results, _ = executor_topics
    session = unique("s")
    code = "printf 'Kafka keeps order per partition.\\n\\nRedis is a cache.\\n' > notes.txt"
    write = request(session, "code_execution", language="shell", code=code)
    async with KafkaEventBus(settings.kafka) as bus:
        await bus.publish(requests, write)
        (made,) = results_of(await read(settings, results, 1))[write.payload["request_id"]]
        (att,) = made.attachments
        ask = request(session, "document_query", attachment_id=att.attachment_id, query="cache")
        await bus.publish(requests, ask)
    (answer,) = results_of(await read(settings, results, 2))[ask.payload["request_id"]]
    assert answer.status == "ok"
    assert answer.data is not None
    (passage,) = answer.data["passages"]
    assert passage["text"] == "Kafka keeps order per partition.\n\nRedis is a cache."
    assert answer.data["attachment"]["sha256"] == att.sha256
