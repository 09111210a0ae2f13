"""WS /v1/sessions/{id}/stream: a session's outbound events, in order, each exactly once.

Protocol (server -> client, JSON text frames):
    {"type": "ready", "session_id", "partition", "after"}   subscribed; resume point so far
    {"type": "event", "partition", "offset", "event": {...envelope...}}
Client -> server: optionally {"type": "auth", "key": "..."} first (when `?key=` is absent).

A client that reconnects with `?after=<offset>` (the last offset it saw) first gets the
events of its session after that offset, read from Kafka, then live ones. The live
subscription is registered before the replay's end offset is read, so the two overlap
rather than leave a gap; the overlap is dropped by offset.
Close codes: 4401 bad or missing key, 4404 unknown session, 4408 slow client (resume).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

import orjson
import structlog
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from somaagent.adapters.kafka.outbound_fanout import OutboundRecord, partition_for, read_partition
from somaagent.domain.errors import NotFoundError, SomaError
from somaagent.services.gateway.auth import Principal, principal_for_key
from somaagent.services.gateway.errors import ApiError
from somaagent.services.gateway.hub import Subscription
from somaagent.services.gateway.routes_sessions import owned_session
from somaagent.services.gateway.runtime import Runtime

router = APIRouter(tags=["stream"])
log = structlog.get_logger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408


def event_frame(record: OutboundRecord) -> bytes:
    head = b'{"type":"event","partition":%d,"offset":%d,"event":' % (
        record.partition,
        record.offset,
    )
    return head + record.value + b"}"


async def _authenticate(ws: WebSocket, runtime: Runtime, key: str | None) -> Principal:
    if key is None:
        timeout = runtime.settings.gateway.ws_auth_timeout_s
        try:
            async with asyncio.timeout(timeout):
                first = await ws.receive_text()
            message = orjson.loads(first)
        except (TimeoutError, orjson.JSONDecodeError):
            raise ApiError(401, "unauthorized", "send {type: auth, key} first") from None
        key = message.get("key") if isinstance(message, dict) else None
        key = key if isinstance(key, str) else None
    return await principal_for_key(runtime.keys, key)


class _Sender:
    """Writes records to one socket, dropping any at or below the last offset sent."""

    def __init__(self, ws: WebSocket, runtime: Runtime, last: int) -> None:
        self.ws, self.runtime, self.last = ws, runtime, last

    async def send(self, record: OutboundRecord, source: str) -> None:
        if record.offset <= self.last:
            return
        await self.ws.send_text(event_frame(record).decode())
        self.last = record.offset
        self.runtime.metrics.ws_events_sent.labels(source).inc()


#: Resume readers being closed behind clients that went away (kept referenced until done).
_closing: set[asyncio.Task[None]] = set()


async def _next(reader: AsyncIterator[OutboundRecord]) -> OutboundRecord | None:
    return await anext(reader, None)


async def _close(reader: AsyncIterator[OutboundRecord], step: asyncio.Task[Any] | None) -> None:
    """Let the pending read finish, then close the reader (which stops its Kafka consumer)."""
    if step is not None:
        with contextlib.suppress(Exception):
            await step
    if not isinstance(reader, AsyncGenerator):
        return
    try:
        await reader.aclose()
    except SomaError as exc:
        log.warning("gateway.stream.resume_close_failed", error=str(exc))


def _close_behind(reader: AsyncIterator[OutboundRecord], step: asyncio.Task[Any] | None) -> None:
    task = asyncio.get_running_loop().create_task(_close(reader, step))
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def _replay(sender: _Sender, session_id: str, partition: int) -> None:
    """Replay the session's records after `sender.last`, up to the partition's end.

    The reader's Kafka consumer is started, read and stopped only inside tasks that the
    client's disconnect never cancels (each step is shielded): a consumer whose start or stop
    is cancelled half-way keeps its broker connections open. When the client goes away, the
    reader is closed behind it.
    """
    gw = sender.runtime.settings.gateway
    reader = read_partition(
        sender.runtime.settings.kafka,
        gw.outbound_topic,
        partition,
        sender.last + 1,
        timeout_s=gw.resume_timeout_s,
    )
    step: asyncio.Task[OutboundRecord | None] | None = None
    try:
        while True:
            step = asyncio.get_running_loop().create_task(_next(reader))
            record = await asyncio.shield(step)
            step = None
            if record is None:
                return
            if record.session_id == session_id:
                await sender.send(record, "resume")
    finally:
        _close_behind(reader, step)


async def _pump(
    sender: _Sender, sub: Subscription, session_id: str, partition: int, resume: bool
) -> None:
    if resume:
        await _replay(sender, session_id, partition)
    while True:
        record = await sub.get()
        if record is None:
            sender.runtime.metrics.ws_overflows.inc()
            await sender.ws.close(CLOSE_TOO_SLOW, "too slow: reconnect with ?after=<offset>")
            return
        await sender.send(record, "live")


async def _drain_client(ws: WebSocket) -> None:
    """Read (and ignore) client frames until it disconnects."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _stream(ws: WebSocket, runtime: Runtime, session_id: str, after: int | None) -> None:
    hub, fanout = runtime.hub, runtime.fanout
    partition = partition_for(session_id, fanout.partitions)
    sub = hub.subscribe(session_id)
    runtime.metrics.ws_connections.inc()
    try:
        last = after if after is not None else fanout.position(partition) - 1
        await ws.send_text(
            orjson.dumps(
                {"type": "ready", "session_id": session_id, "partition": partition, "after": last}
            ).decode()
        )
        sender = _Sender(ws, runtime, last)
        async with asyncio.TaskGroup() as tg:
            pump = tg.create_task(_pump(sender, sub, session_id, partition, after is not None))
            drain = tg.create_task(_drain_client(ws))
            pump.add_done_callback(lambda _: drain.cancel())
            drain.add_done_callback(lambda _: pump.cancel())
    finally:
        hub.unsubscribe(sub)
        runtime.metrics.ws_connections.dec()


@router.websocket("/v1/sessions/{session_id}/stream")
async def stream(
    ws: WebSocket,
    session_id: str,
    key: Annotated[str | None, Query(max_length=256)] = None,
    after: Annotated[int | None, Query(ge=-1)] = None,
) -> None:
    runtime: Runtime = ws.app.state.runtime
    await ws.accept()
    try:
        who = await _authenticate(ws, runtime, key)
    except ApiError as exc:
        await ws.close(CLOSE_UNAUTHORIZED, exc.message)
        return
    try:
        await owned_session(runtime, who, session_id, shared_ok=True)
    except NotFoundError as exc:
        await ws.close(CLOSE_NOT_FOUND, exc.message)
        return
    try:
        await _stream(ws, runtime, session_id, after)
    except* WebSocketDisconnect:
        log.debug("gateway.stream.disconnected", session_id=session_id)
    except* SomaError as group:
        log.warning("gateway.stream.failed", session_id=session_id, error=str(group.exceptions[0]))
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close(1011, "stream failed; reconnect with ?after=<offset>")
