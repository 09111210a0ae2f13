"""A resumed WS stream whose client goes away leaves no Kafka consumer behind.

The gateway runs in this process, so its Kafka connections are this process's sockets to
the broker's port: counted from /proc before the resumed streams and after their clients
vanish (mid-replay, and right after `ready` while the resume reader is still starting).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import orjson
from websockets.asyncio.client import connect

from services.gateway.conftest import RunningGateway, Tenant
from services.gateway.test_stream import new_session, open_stream, recv
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.domain.events import Envelope

BIG = "x" * 64 * 1024  # replay frames large enough to fill the socket buffers


def kafka_sockets(bootstrap: str) -> int:
    """This process's established TCP connections to the broker's port."""
    port = int(bootstrap.rsplit(":", 1)[1])
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in ours:
                count += 1
    return count


async def settled_sockets(bootstrap: str, target: int, timeout_s: float = 10.0) -> int:
    """The socket count once it reaches `target` (or whatever it is after `timeout_s`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    count = kafka_sockets(bootstrap)
    while count != target and loop.time() < deadline:
        await asyncio.sleep(0.2)
        count = kafka_sockets(bootstrap)
    return count


async def publish_big(bus: KafkaEventBus, topic: str, tenant: Tenant, sid: str, n: int) -> int:
    """n large events for `sid`; the offset of the first."""
    first = -1
    for seq in range(n):
        event = Envelope(
            type="conversation.stream",
            session_id=sid,
            tenant_id=tenant.tenant_id,
            correlation_id="turn-1",
            payload={"status": "streaming", "correlation_id": "turn-1", "seq": seq, "delta": BIG},
        )
        position = await bus.publish(topic, event)
        first = position.offset if first < 0 else first
    return first


async def test_disconnect_from_resumed_stream_closes_its_kafka_consumer(
    http: httpx.AsyncClient, gateway: RunningGateway, producer: KafkaEventBus, tenant: Tenant
) -> None:
    bootstrap = gateway.settings.kafka.bootstrap
    sid = await new_session(http, tenant)
    first = await publish_big(producer, gateway.settings.gateway.outbound_topic, tenant, sid, 600)
    baseline = kafka_sockets(bootstrap)
    # Mid-replay: read one frame, then vanish while the gateway is blocked sending the rest.
    for _ in range(3):
        ws, _ = await open_stream(gateway, sid, tenant.key, after=first - 1)
        assert (await recv(ws))["event"]["payload"]["seq"] == 0
        ws.transport.abort()
    # Right after `ready`, while the resume reader is still connecting.
    for _ in range(5):
        query = f"?key={tenant.key}&after={first - 1}"
        async with connect(f"{gateway.ws_url}/v1/sessions/{sid}/stream{query}") as ws:
            assert orjson.loads(await ws.recv())["type"] == "ready"
        ws.transport.abort()
    assert await settled_sockets(bootstrap, baseline) == baseline
    # The gateway still serves a full resume afterwards.
    ws, _ = await open_stream(gateway, sid, tenant.key, after=first + 597)
    assert [(await recv(ws))["event"]["payload"]["seq"] for _ in range(2)] == [598, 599]
    await ws.close()
    assert await settled_sockets(bootstrap, baseline) == baseline
