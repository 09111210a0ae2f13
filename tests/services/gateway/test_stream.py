"""WS /v1/sessions/{id}/stream on the real stack: order, auth, tenancy, resume, fan-out.

A real Kafka producer publishes outbound envelopes here, in the role the conversation
worker takes in production.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.gateway.conftest import RunningGateway, Tenant, start_gateway, stop_gateway
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.kafka.outbound_fanout import partition_for
from somaagent.domain.bus import Position
from somaagent.domain.events import Envelope


async def new_session(http: httpx.AsyncClient, tenant: Tenant) -> str:
    r = await http.post("/v1/sessions", json={}, headers=tenant.headers())
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


async def publish(
    bus: KafkaEventBus, gw: RunningGateway, tenant: Tenant, sid: str, seqs: range
) -> list[Position]:
    positions = []
    for seq in seqs:
        event = Envelope(
            type="conversation.stream",
            session_id=sid,
            tenant_id=tenant.tenant_id,
            correlation_id="turn-1",
            payload={"status": "streaming", "correlation_id": "turn-1", "seq": seq, "delta": "x"},
        )
        positions.append(await bus.publish(gw.settings.gateway.outbound_topic, event))
    return positions


async def recv(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(10):
        return dict(orjson.loads(await ws.recv()))


async def open_stream(
    gw: RunningGateway, sid: str, key: str, after: int | None = None
) -> tuple[ClientConnection, dict[str, Any]]:
    query = f"?key={key}" + (f"&after={after}" if after is not None else "")
    ws = await connect(f"{gw.ws_url}/v1/sessions/{sid}/stream{query}")
    ready = await recv(ws)
    assert ready["type"] == "ready"
    return ws, ready


async def seqs_of(ws: ClientConnection, count: int) -> list[tuple[int, int]]:
    got = []
    for _ in range(count):
        frame = await recv(ws)
        got.append((frame["offset"], frame["event"]["payload"]["seq"]))
    return got


async def test_live_events_arrive_in_order_on_the_sessions_partition(
    http: httpx.AsyncClient, gateway: RunningGateway, producer: KafkaEventBus, tenant: Tenant
) -> None:
    sid = await new_session(http, tenant)
    ws, ready = await open_stream(gateway, sid, tenant.key)
    positions = await publish(producer, gateway, tenant, sid, range(1, 21))
    assert {p.partition for p in positions} == {ready["partition"]}
    assert ready["partition"] == partition_for(sid, 4)
    got = await seqs_of(ws, 20)
    assert [s for _, s in got] == list(range(1, 21))
    assert [o for o, _ in got] == [p.offset for p in positions]
    await ws.close()


async def test_auth_by_first_message_and_refusals(
    http: httpx.AsyncClient, gateway: RunningGateway, tenant: Tenant, other_tenant: Tenant
) -> None:
    sid = await new_session(http, tenant)
    async with connect(f"{gateway.ws_url}/v1/sessions/{sid}/stream") as ws:
        await ws.send(orjson.dumps({"type": "auth", "key": tenant.key}).decode())
        assert (await recv(ws))["type"] == "ready"
    for key, code in ((tenant.key + "x", 4401), (other_tenant.key, 4404)):
        async with connect(f"{gateway.ws_url}/v1/sessions/{sid}/stream?key={key}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_resume_after_offset_delivers_every_seq_exactly_once(
    http: httpx.AsyncClient, gateway: RunningGateway, producer: KafkaEventBus, tenant: Tenant
) -> None:
    sid, neighbour = await new_session(http, tenant), await new_session(http, tenant)
    ws, _ = await open_stream(gateway, sid, tenant.key)
    await publish(producer, gateway, tenant, sid, range(1, 11))
    first = await seqs_of(ws, 4)
    await ws.close()
    last_offset = first[-1][0]
    # Missed while away, interleaved with another session's events.
    await publish(producer, gateway, tenant, neighbour, range(100, 105))
    await publish(producer, gateway, tenant, sid, range(11, 16))
    ws, ready = await open_stream(gateway, sid, tenant.key, after=last_offset)
    assert ready["after"] == last_offset
    replayed = await seqs_of(ws, 11)
    await publish(producer, gateway, tenant, sid, range(16, 19))
    live = await seqs_of(ws, 3)
    seqs = [s for _, s in first + replayed + live]
    assert seqs == list(range(1, 19))
    offsets = [o for o, _ in first + replayed + live]
    assert offsets == sorted(set(offsets))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await ws.recv()
    await ws.close()


async def test_every_gateway_instance_delivers_every_event(
    http: httpx.AsyncClient, gateway: RunningGateway, producer: KafkaEventBus, tenant: Tenant
) -> None:
    second = await start_gateway(gateway.settings)
    try:
        sid = await new_session(http, tenant)
        ws1, _ = await open_stream(gateway, sid, tenant.key)
        ws2, _ = await open_stream(second, sid, tenant.key)
        await publish(producer, gateway, tenant, sid, range(1, 9))
        assert [s for _, s in await seqs_of(ws1, 8)] == list(range(1, 9))
        assert [s for _, s in await seqs_of(ws2, 8)] == list(range(1, 9))
        await ws1.close()
        await ws2.close()
    finally:
        await stop_gateway(second)
