"""Kafka helpers for the executor tests: publish requests, read results back."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer

from somaagent.domain.event_types import TOOL_CALL_REQUESTED, make_event
from somaagent.domain.events import Envelope
from somaagent.domain.tools import ToolCall, ToolResult
from somaagent.settings import CommonSettings


async def read(settings: CommonSettings, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        got: list[Any] = []
        async with asyncio.timeout(60):
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(records)
        return got
    finally:
        await consumer.stop()


def results_of(records: list[Any]) -> dict[str, list[ToolResult]]:
    found: dict[str, list[ToolResult]] = {}
    for rec in records:
        result = ToolResult.model_validate(Envelope.model_validate_json(rec.value).payload)
        found.setdefault(result.request_id, []).append(result)
    return found


def request(session: str, tool: str, **arguments: Any) -> Envelope:
    call = ToolCall(
        tool=tool, arguments=arguments, session_id=session, tenant_id="tenant-x",
        correlation_id="turn-1", timeout_s=10,
    )  # fmt: skip
    return make_event(
        TOOL_CALL_REQUESTED, call, session_id=session, tenant_id="tenant-x", correlation_id="turn-1"
    )
