"""Routes outbound records to the WebSockets watching their session.

The fan-out reader calls `dispatch` for every record; each subscription owns a bounded
queue. A subscriber that falls `ws_queue_max` events behind is marked overflowed and cut
off: its client reconnects and resumes from its last offset, so nothing is lost.
"""

from __future__ import annotations

import asyncio

from somaagent.adapters.kafka.outbound_fanout import OutboundRecord


class Subscription:
    def __init__(self, session_id: str, maxsize: int) -> None:
        self.session_id = session_id
        self.queue: asyncio.Queue[OutboundRecord | None] = asyncio.Queue(maxsize + 1)
        self._maxsize = maxsize
        self.overflowed = False

    def offer(self, record: OutboundRecord) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self._maxsize:
            self.overflowed = True
            self.queue.put_nowait(None)  # wakes the sender, which closes the socket
            return
        self.queue.put_nowait(record)

    async def get(self) -> OutboundRecord | None:
        """The next record, or None once this subscription overflowed."""
        return await self.queue.get()


class StreamHub:
    def __init__(self, queue_max: int) -> None:
        self._queue_max = queue_max
        self._by_session: dict[str, set[Subscription]] = {}
        self.dispatched = 0

    def subscribe(self, session_id: str) -> Subscription:
        sub = Subscription(session_id, self._queue_max)
        self._by_session.setdefault(session_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._by_session.get(sub.session_id)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._by_session[sub.session_id]

    def dispatch(self, record: OutboundRecord) -> None:
        subs = self._by_session.get(record.session_id)
        if not subs:
            return
        self.dispatched += 1
        for sub in subs:
            sub.offer(record)

    @property
    def watchers(self) -> int:
        return sum(len(s) for s in self._by_session.values())
