"""`soma chat -m` against a real gateway: the answer streams in and the turn completes.

The test publishes the outbound events with a real Kafka producer, in the worker's role.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.gateway.conftest import RunningGateway, Tenant
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.domain.events import Envelope

SOMA = str(Path(sys.executable).with_name("soma"))


async def test_soma_chat_streams_one_answer(
    http: httpx.AsyncClient, gateway: RunningGateway, producer: KafkaEventBus, tenant: Tenant
) -> None:
    sid = (await http.post("/v1/sessions", json={}, headers=tenant.headers())).json()["session_id"]
    topic = gateway.settings.gateway.inbound_topic
    consumer = AIOKafkaConsumer(bootstrap_servers=gateway.settings.kafka.bootstrap, group_id=None)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(2)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    proc = await asyncio.create_subprocess_exec(
        SOMA,
        "chat",
        "--url",
        gateway.base_url,
        "--key",
        tenant.key,
        "--session",
        sid,
        "-m",
        "hello there",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            inbound = Envelope.model_validate(orjson.loads((await consumer.getone()).value))
        assert inbound.session_id == sid and inbound.payload["text"] == "hello there"
        words = ["Hello", " from", " the", " terminal."]
        topic_out = gateway.settings.gateway.outbound_topic
        corr = inbound.correlation_id
        for seq, word in enumerate(words, start=1):
            payload = {"status": "streaming", "correlation_id": corr, "seq": seq, "delta": word}
            await producer.publish(topic_out, inbound.caused("conversation.stream", payload))
        done = {
            "status": "completed",
            "correlation_id": corr,
            "seq": 5,
            "text": "".join(words),
            "usage": {"completion_tokens": 4},
        }
        await producer.publish(topic_out, inbound.caused("conversation.stream", done))
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    finally:
        await consumer.stop()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "Hello from the terminal." in text
    assert "completed · 4 tokens" in text
