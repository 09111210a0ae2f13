"""StreamHub routing and the slow-client cut-off, with real records (no I/O)."""

from __future__ import annotations

from somaagent.adapters.kafka.outbound_fanout import OutboundRecord
from somaagent.services.gateway.hub import StreamHub
from somaagent.services.gateway.routes_stream import event_frame


def record(session_id: str, offset: int) -> OutboundRecord:
    return OutboundRecord(1, offset, session_id, b'{"payload":{}}', 0)


async def test_records_reach_only_their_sessions_watchers() -> None:
    hub = StreamHub(queue_max=10)
    a1, a2, b = hub.subscribe("a"), hub.subscribe("a"), hub.subscribe("b")
    hub.dispatch(record("a", 5))
    hub.dispatch(record("c", 6))
    assert (await a1.get(), await a2.get()) == (record("a", 5), record("a", 5))
    assert b.queue.empty()
    hub.unsubscribe(a1)
    hub.unsubscribe(a2)
    hub.dispatch(record("a", 7))
    assert hub.watchers == 1


async def test_a_client_that_falls_behind_is_cut_off_not_buffered_forever() -> None:
    hub = StreamHub(queue_max=10)
    sub = hub.subscribe("s")
    for offset in range(25):
        hub.dispatch(record("s", offset))
    got = [await sub.get() for _ in range(11)]
    assert [r.offset for r in got[:10] if r] == list(range(10))
    assert got[10] is None and sub.overflowed and sub.queue.empty()


def test_frame_embeds_the_envelope_bytes_unchanged() -> None:
    assert event_frame(record("s", 42)) == (
        b'{"type":"event","partition":1,"offset":42,"event":{"payload":{}}}'
    )
