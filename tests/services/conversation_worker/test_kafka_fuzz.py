"""Bad records on every topic a process consumes: each ends in the topic's `.dlq` twin with a
reason, and the process that read it keeps running.

A real conversation worker (conversation.inbound, tool.results) and a real tool executor
(tool.requests) run in-process on fresh topics of the stack's Kafka (this folder's
fixtures); the records are produced raw, as anything with access to the cluster could: not
JSON, truncated, not an object, empty, a tombstone, too deeply nested, oversized, not UTF-8,
UTF-16, an unknown schema version, an unknown type, and an envelope of a type the topic
does not carry.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from somaagent.domain.constants import dlq_topic
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    TOOL_CALL_REQUESTED,
    TOOL_RESULT_RECEIVED,
    MessageReceived,
    make_event,
)
from somaagent.domain.stream import STREAM_UPDATE, StreamUpdate
from somaagent.domain.tools import ToolCall, ToolResult
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.settings import CommonSettings

from .conftest import running_worker
from .test_tool_turns import running_executor

SESSION, TENANT = "sess-fuzz", "tenant-fuzz"


def good(kind: str) -> dict[str, Any]:
    """A valid envelope of the type `kind`'s topic carries, as a JSON-ready dict."""
    ids = {"session_id": SESSION, "tenant_id": TENANT, "correlation_id": uuid.uuid4().hex}
    if kind == "inbound":
        event = make_event(MESSAGE_RECEIVED, MessageReceived(text="hi"), **ids)
    elif kind == "tool_requests":
        call = ToolCall(tool="code_execution", arguments={"code": "print(1)"}, **ids)
        event = make_event(TOOL_CALL_REQUESTED, call, **ids)
    else:
        result = ToolResult(request_id=uuid.uuid4().hex, tool="code_execution", status="ok")
        event = make_event(TOOL_RESULT_RECEIVED, result, **ids)
    return dict(event.model_dump(mode="json"))


def bad_records(kind: str) -> dict[str, bytes | None]:
    """Name -> raw value of each bad record for the topic of `kind`."""
    envelope = good(kind)
    oversized = {**envelope, "payload": {**envelope["payload"], "padding": "x" * 600_000}}
    if kind == "inbound":
        oversized["payload"] = {"text": "x" * 300_000}  # over MessageReceived's 200,000
    stray = make_event(
        STREAM_UPDATE,
        StreamUpdate(status="completed", correlation_id="c", seq=0),
        session_id=SESSION,
        tenant_id=TENANT,
    )
    return {
        "not json": b"this is not json",
        "truncated": orjson.dumps(envelope)[:40],
        "not an object": b"[1, 2, 3]",
        "empty": b"",
        "tombstone": None,
        "missing fields": b'{"type": "conversation.message.received"}',
        "too deeply nested": b"[" * 5000 + b"]" * 5000,
        "oversized": orjson.dumps(oversized),
        "not utf-8": b'{"type": "\xff\xfe\xfd"}',
        "utf-16": orjson.dumps(envelope).decode().encode("utf-16"),
        "unknown version": orjson.dumps({**envelope, "schema_version": 99}),
        "unknown type": orjson.dumps({**envelope, "type": "conversation.unheard_of"}),
        "type not carried here": orjson.dumps(stray.model_dump(mode="json")),
    }


async def produce(bootstrap: str, topic: str, records: dict[str, bytes | None]) -> dict[str, str]:
    """Produce each record raw; returns `topic/partition/offset` -> its name."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2_000_000)
    await producer.start()
    try:
        where = {}
        for name, value in records.items():
            meta = await producer.send_and_wait(topic, value, key=SESSION.encode())
            where[f"{topic}/{meta.partition}/{meta.offset}"] = name
        return where
    finally:
        await producer.stop()


async def dead_letters(bootstrap: str, topic: str, want: int) -> dict[str, str]:
    """`dlq_source` -> `dlq_reason` of the records in `topic`, once `want` have arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=2_000_000,
    )
    await consumer.start()
    found: dict[str, str] = {}
    deadline = time.monotonic() + 90
    try:
        while len(found) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    found[headers["dlq_source"]] = headers.get("dlq_reason", "")
        return found
    finally:
        await consumer.stop()


async def committed_to_end(bootstrap: str, group: str, topic: str) -> bool:
    """The group committed every record of `topic`: its consumer got past all of them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(2)]
        ends = await consumer.end_offsets(parts)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = await admin.list_consumer_group_offsets(group)
            if all(done.get(tp) and done[tp].offset >= end for tp, end in ends.items() if end):
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await consumer.stop()
        await admin.close()


@pytest.mark.parametrize("kind", ["inbound", "tool_requests", "tool_results"])
async def test_every_bad_record_is_dead_lettered_with_a_reason_and_nothing_dies(
    kind: str, worker_settings: WorkerSettings, settings: CommonSettings
) -> None:
    """(running_worker and running_executor re-raise at exit if their process ended in error)"""
    topic = getattr(worker_settings.topics, kind)
    records = bad_records(kind)
    group = worker_settings.worker.group_id + ("-tools" if kind == "tool_requests" else "")
    async with running_worker(worker_settings), running_executor(worker_settings):
        where = await produce(settings.kafka.bootstrap, topic, records)
        found = await dead_letters(settings.kafka.bootstrap, dlq_topic(topic), len(records))
        assert {where.get(source) for source in found} == set(records), found
        assert all(reason.strip() for reason in found.values()), found
        assert await committed_to_end(settings.kafka.bootstrap, group, topic)
