"""The launcher's promises: idempotent up, status with versions, restart keeps data,
clear errors, and down touching only what it started."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from somaagent.devstack import Stack
from somaagent.devstack.process import pid_alive
from somaagent.devstack.redis import RedisService
from somaagent.devstack.service import StackContext
from somaagent.domain.constants import ALL_TOPICS
from somaagent.domain.errors import InfraError
from somaagent.settings import CommonSettings


def test_status_reports_every_service_up_with_a_version(stack: Stack) -> None:
    rows = {r.name: r for r in stack.status()}
    for name in ("postgres", "redis", "kafka", "opa", "openfga"):
        assert rows[name].state == "up", rows[name]
        assert rows[name].version[:1].isdigit() or rows[name].version.startswith("v")


def test_second_up_is_a_no_op(stack: Stack) -> None:
    pids = {s.name: s.pid() for s in stack.services}
    results = stack.up()
    assert set(results.values()) == {"already up"}
    assert {s.name: s.pid() for s in stack.services} == pids


def kill_and_wait(pid: int) -> None:
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


async def test_killed_kafka_comes_back_with_topics_and_data(
    stack: Stack, settings: CommonSettings
) -> None:
    kafka = stack.service("kafka")
    topic = ALL_TOPICS[0]
    marker = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, marker, key=b"launcher-test")
    finally:
        await producer.stop()

    pid = kafka.pid()
    assert pid is not None
    await asyncio.to_thread(kill_and_wait, pid)
    assert kafka.status().state in {"stale", "down"}

    assert (await asyncio.to_thread(stack.up))["kafka"] == "started"
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap)
    await consumer.start()
    try:
        assert set(ALL_TOPICS) <= await consumer.topics()
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        got = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
    finally:
        await consumer.stop()
    assert got[tp][0].value == marker


def test_port_taken_by_a_stranger_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        base = CommonSettings()
        settings = base.model_copy(
            update={
                "state_dir": tmp_path,
                "redis": base.redis.model_copy(update={"port": port}),
            }
        )
        with pytest.raises(InfraError, match=rf"redis: port {port} .* taken"):
            RedisService(StackContext(settings)).up()


def test_down_leaves_alone_what_it_did_not_start(stack: Stack, tmp_path: Path) -> None:
    other = Stack(CommonSettings().model_copy(update={"state_dir": tmp_path}))
    assert set(other.down().values()) == {"not started by this launcher"}
    assert {r.state for r in stack.status()} == {"up"}
    assert {r.state for r in other.status()} == {"foreign"}
