"""The conversation worker: consumes conversation.inbound and tool.results, runs turns.

    async with ConversationWorker(settings) as worker:
        await worker.run()          # until shutdown() (SIGTERM/SIGINT in `soma worker`)

Child tasks (the consumer loop, the expiry sweep, the policy retry job) share one
TaskGroup. Shutdown: stop consuming -> the loop drains in-flight turns with a deadline
and commits -> cancel the rest -> close clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self

import structlog
from prometheus_client import start_http_server

from somaagent.adapters.kafka import KafkaConsumerLoop, trace_id_of
from somaagent.application.conversation.runner import TurnRunner
from somaagent.domain.bus import Record
from somaagent.domain.constants import HEADER_TRACEPARENT
from somaagent.domain.errors import SupersededError, ValidationError
from somaagent.domain.event_types import MESSAGE_RECEIVED, TOOL_RESULT_RECEIVED
from somaagent.domain.events import Envelope
from somaagent.services.conversation_worker.settings import WorkerSettings
from somaagent.services.conversation_worker.wiring import Wiring, wired

log = structlog.get_logger(__name__)

Job = Callable[[], Coroutine[Any, Any, None]]


class ConversationWorker:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.topics = settings.topics
        self._group_id = settings.worker.group_id
        self._stack: Any = None
        self._wiring: Wiring | None = None
        self._loop: KafkaConsumerLoop | None = None
        self._stopping = asyncio.Event()

    async def __aenter__(self) -> Self:
        self._stack = wired(self.settings, self.topics)
        self._wiring = await self._stack.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.__aexit__(exc_type, exc, tb)

    @property
    def runner(self) -> TurnRunner:
        if self._wiring is None:
            raise RuntimeError("use `async with ConversationWorker(...)` first")
        return self._wiring.runner

    async def run(self) -> None:
        wiring = self._wiring
        if wiring is None:
            raise RuntimeError("use `async with ConversationWorker(...)` first")
        if self.settings.worker.metrics_port:
            start_http_server(self.settings.worker.metrics_port, addr="127.0.0.1")
        self._loop = KafkaConsumerLoop(
            self.settings.kafka,
            topics=[self.topics.inbound, self.topics.tool_results],
            group_id=self._group_id,
            handler=self._handle,
            bus=wiring.bus,
            max_in_flight=self.settings.worker.max_in_flight,
            max_batch=1,
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._loop.run())
            tasks.create_task(self._every(self.settings.worker.expiry_interval_s, self._expire))
            tasks.create_task(wiring.retry.run(self._stopping))
            await self._stopping.wait()
            await self._loop.shutdown()
            # the consumer loop drains and returns; the periodic jobs end on the event

    async def shutdown(self) -> None:
        """Stop consuming; run() drains in-flight turns and returns. Idempotent."""
        self._stopping.set()
        if self._loop is not None:
            await self._loop.shutdown()

    async def _handle(self, event: Envelope, record: Record) -> None:
        structlog.contextvars.bind_contextvars(
            trace_id=trace_id_of(record.headers.get(HEADER_TRACEPARENT)),
            tenant_id=event.tenant_id,
            persona_id=event.persona_id,
            session_id=event.session_id,
            correlation_id=event.correlation_id,
        )
        try:
            if event.type == MESSAGE_RECEIVED:
                claim = await self.runner.on_message(event)
            elif event.type == TOOL_RESULT_RECEIVED:
                claim = await self.runner.on_tool_result(event)
            else:  # a record this worker has no use for is bad input: it is dead-lettered
                raise ValidationError("type", f"{event.type} is not handled on {record.topic}")
            log.info("worker.event.handled", type=event.type, claim=claim)
        except SupersededError as exc:  # a newer attempt runs the turn; this one says nothing
            log.info("worker.attempt.superseded", type=event.type, reason=exc.message)
        finally:
            structlog.contextvars.clear_contextvars()

    async def _expire(self) -> None:
        expired = await self.runner.expire()
        if expired:
            log.info("worker.turns.expired", count=expired)

    async def _every(self, interval_s: float, job: Job) -> None:
        while not self._stopping.is_set():
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:  # a periodic job's failure is logged; the next run retries
                log.exception("worker.job.failed", job=job.__name__)
            try:
                await asyncio.wait_for(self._stopping.wait(), interval_s)
            except TimeoutError:
                continue
