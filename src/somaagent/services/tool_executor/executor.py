"""ToolExecutor: one tool request in, one tool result out, exactly once per request id.

    request -> parse (malformed: raise ValidationError; the consumer loop dead-letters it)
            -> claim in the ledger (done before: re-publish the stored result; running
               elsewhere: wait until its owner stores the result or stops renewing its lease;
               lease expired: the owner died, report it failed - lease.py)
            -> policy gate, action tool.execute (denied: the gate stores a requeue item and
               publishes policy.blocked; the result says "denied" with the reasons; a
               request an admin released comes back with the release header and runs)
            -> tool lookup + argument validation (failed "invalid" result saying why)
            -> run (a heartbeat renews the claim's lease meanwhile)
            -> store produced files as attachments
            -> redact secrets in stdout, stderr and data (application/redaction.py)
            -> store the result -> publish

The result is stored before it is published and the offset is committed only after the
handler returns, so a crash at any point neither loses the result nor runs the tool twice.
"""

from __future__ import annotations

import asyncio
import mimetypes
import time
from pathlib import Path
from typing import Final

import structlog

from somaagent.adapters.kafka.tracing import trace_id_of
from somaagent.application.policy.gate import GateResult, PolicyGate
from somaagent.application.redaction import OutputRedactor
from somaagent.domain.bus import EventBus, Record
from somaagent.domain.constants import HEADER_TRACEPARENT
from somaagent.domain.errors import SomaError, ToolError, ValidationError
from somaagent.domain.event_types import TOOL_CALL_REQUESTED, TOOL_RESULT_RECEIVED, make_event
from somaagent.domain.events import Envelope
from somaagent.domain.policy_events import HEADER_POLICY_RELEASE
from somaagent.domain.tools import (
    Attachment,
    AttachmentStore,
    Claim,
    ExecutionLedger,
    ToolCall,
    ToolResult,
)
from somaagent.services.tool_executor.lease import kept_lease, wait_while_busy
from somaagent.services.tool_executor.metrics import REDELIVERED, SANDBOX_KILLS, TOOL_DURATION
from somaagent.telemetry.spans import span
from somaagent.tools.base import ToolOutput, parse_arguments
from somaagent.tools.registry import ToolRegistry

log = structlog.get_logger(__name__)

MAX_ATTACHMENTS: Final = 16


def parse_call(event: Envelope) -> ToolCall:
    """The ToolCall an envelope carries; ValidationError (-> DLQ) when it is not one."""
    if event.type != TOOL_CALL_REQUESTED:
        raise ValidationError("type", f"expected {TOOL_CALL_REQUESTED}, got {event.type!r}")
    try:
        call = ToolCall.model_validate(event.payload)
    except ValueError as exc:
        raise ValidationError("payload", f"not a ToolCall: {exc}") from exc
    if (call.session_id, call.tenant_id) != (event.session_id, event.tenant_id):
        raise ValidationError("payload", "session_id/tenant_id differ from the envelope")
    return call


class ToolExecutor:
    """The handler of tool.requests; all I/O through ports given at construction."""

    def __init__(
        self,
        *,
        registry: ToolRegistry,
        ledger: ExecutionLedger,
        attachments: AttachmentStore,
        gate: PolicyGate,
        redactor: OutputRedactor,
        bus: EventBus,
        results_topic: str,
        owner: str,
        lease_s: float = 15.0,
        max_concurrent: int = 4,
    ) -> None:
        self.registry = registry
        self.ledger = ledger
        self.attachments = attachments
        self.gate = gate
        self.redactor = redactor
        self.bus = bus
        self.results_topic = results_topic
        self.owner = owner
        self.lease_s = lease_s
        self._slots = asyncio.Semaphore(max_concurrent)

    async def handle(self, event: Envelope, record: Record) -> None:
        call = parse_call(event)
        bound = log.bind(
            trace_id=trace_id_of(record.headers.get(HEADER_TRACEPARENT)),
            tenant_id=call.tenant_id,
            persona_id=call.persona_id,
            session_id=call.session_id,
            tool=call.tool,
            request_id=call.request_id,
        )
        released_by = record.headers.get(HEADER_POLICY_RELEASE)
        claim = await self._claim(call, released_by)
        if claim.state == "busy":  # running elsewhere: wait for its result or its death
            REDELIVERED.labels("busy").inc()
            bound.info("tool.request.busy")
            claim = await wait_while_busy(self.ledger, call, self.owner, self.lease_s)
        if claim.state == "done" and claim.result is not None:
            REDELIVERED.labels("republished").inc()
            bound.info("tool.result.republished", status=claim.result.status)
            await self._publish(event, record, claim.result)
            return
        if claim.state == "abandoned":
            REDELIVERED.labels("abandoned").inc()
            result = _failed(call, "error", "an executor died while running this request")
        else:
            async with kept_lease(self.ledger, call, self.owner, self.lease_s):
                result = await self.execute(call, event, released_by)
        stored = await self.ledger.finish(call, result)
        bound.info("tool.run.finished", status=stored.status, duration_s=stored.duration_s)
        await self._publish(event, record, stored)

    async def _claim(self, call: ToolCall, released_by: str | None) -> Claim:
        claim = await self.ledger.claim(call, self.owner, self.lease_s)
        denied = claim.result is not None and claim.result.status == "denied"
        # An admin released the blocked request: it may run now (the gate checks the item).
        if released_by and denied and await self.ledger.reopen(call, self.owner, self.lease_s):
            return Claim(state="claimed")
        return claim

    async def execute(
        self, call: ToolCall, event: Envelope, released_by: str | None = None
    ) -> ToolResult:
        """Policy, validation, run and attachments for a claimed request."""
        started = time.perf_counter()
        with span(f"tool {call.tool}", attributes={"soma.tool.name": call.tool}) as current:
            checked = await self._checked_run(call, event, released_by)
            result = await self.redactor.clean(call, checked)
            current.set_attribute("soma.tool.status", result.status)
        result = result.model_copy(update={"duration_s": time.perf_counter() - started})
        TOOL_DURATION.labels(call.tool, result.status, call.tenant_id).observe(result.duration_s)
        return result

    async def _checked_run(
        self, call: ToolCall, event: Envelope, released_by: str | None
    ) -> ToolResult:
        gated = await self.gate.guard_tool(
            call, envelope=event, action="tool.execute", released_by=released_by
        )
        result = await self._run_allowed(call, gated)
        # a held call's resolution goes into the turn's verdicts (who allowed or denied, why)
        return (
            result.model_copy(update={"policy_verdict": gated.verdict})
            if gated.resolved
            else result
        )

    async def _run_allowed(self, call: ToolCall, gated: GateResult) -> ToolResult:
        if not gated.allowed:
            return _failed(call, "denied", gated.user_message)
        try:
            tool = self.registry.get(call.tool)
            args = parse_arguments(tool, call.arguments)
        except ToolError as exc:
            return _failed(call, "invalid", exc.message)
        async with self._slots:
            try:
                output = await tool.run(call, args)
            except SomaError as exc:
                if exc.retriable:
                    raise
                return _failed(call, "error", exc.message)
        return await self._result(call, output)

    async def _result(self, call: ToolCall, output: ToolOutput) -> ToolResult:
        if output.killed is not None:
            SANDBOX_KILLS.labels(output.killed).inc()
        attachments = await self._store_files(call, output.files)
        return ToolResult(
            request_id=call.request_id,
            tool=call.tool,
            call_id=call.call_id,
            status=output.status,
            exit_code=output.exit_code,
            stdout=output.stdout,
            stderr=output.stderr,
            truncated=output.truncated or len(output.files) > MAX_ATTACHMENTS,
            attachments=attachments,
            reason=output.reason,
            data=output.data,
        )

    async def _store_files(self, call: ToolCall, files: list[Path]) -> list[Attachment]:
        stored: list[Attachment] = []
        for path in files[:MAX_ATTACHMENTS]:
            content = await asyncio.to_thread(path.read_bytes)
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            try:
                stored.append(
                    await self.attachments.put(
                        call.tenant_id, call.session_id, path.name, content, media
                    )
                )
            except ValidationError as exc:  # too large to keep: the result lists the rest
                log.warning("tool.attachment.skipped", file=path.name, reason=exc.message)
        return stored

    async def _publish(self, request: Envelope, record: Record, result: ToolResult) -> None:
        event = make_event(
            TOOL_RESULT_RECEIVED,
            result,
            session_id=request.session_id,
            tenant_id=request.tenant_id,
            persona_id=request.persona_id,
            correlation_id=request.correlation_id,
            causation_id=request.event_id,
        )
        headers = {}
        if traceparent := record.headers.get(HEADER_TRACEPARENT):
            headers[HEADER_TRACEPARENT] = traceparent
        await self.bus.publish(self.results_topic, event, headers=headers)


def _failed(call: ToolCall, status: str, reason: str) -> ToolResult:
    return ToolResult.model_validate(
        {
            "request_id": call.request_id,
            "tool": call.tool,
            "call_id": call.call_id,
            "status": status,
            "reason": reason,
        }
    )
