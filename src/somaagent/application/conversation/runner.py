"""Running a turn: the use case the conversation worker calls for each event.

    on_message(event)      a user message: claim the turn, pre-process, decide, then either
                           stream the answer or publish a tool request and return
    on_tool_result(event)  the tool answered: resume the waiting turn and stream the answer
    expire(now)            turns whose tool or policy wait passed its deadline fail visibly

Every step that must survive a crash is in PostgreSQL before the handler returns, so the
consumer commits its offset only after the effect is durable. Nothing here runs a tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from somaagent.application.agent_loop import (
    MAX_TOOL_ROUNDS,
    SAFETY_REFUSAL,
    Decision,
    ToolSpec,
    UseTool,
    choice_messages,
    choice_schema,
    memory_operation,
    parse_choice,
    route,
    slot_arguments,
    unsure,
)
from somaagent.application.conversation.answers import AnswerWriter
from somaagent.application.conversation.outbound import Outbound
from somaagent.application.conversation.persist import TurnPersister
from somaagent.application.conversation.ports import (
    ModelSelector,
    PersonaCatalog,
    ToolCatalog,
    ToolGate,
    TurnStateStore,
)
from somaagent.application.conversation.prepare import TurnPreparer
from somaagent.application.policy.gate import tool_envelope
from somaagent.application.tool_arguments import (
    argument_messages,
    argument_request,
    needs_repair,
    parse_arguments,
    repair_messages,
)
from somaagent.domain.bus import EventBus
from somaagent.domain.constants import TOPIC_CONVERSATION_OUTBOUND, TOPIC_TOOL_REQUESTS
from somaagent.domain.errors import BackendError, SomaError, SupersededError
from somaagent.domain.event_types import (
    MessageReceived,
)
from somaagent.domain.events import Envelope, utc_now
from somaagent.domain.llm import ChatModel, ChatRequest
from somaagent.domain.serialization import payload_as
from somaagent.domain.slm import SlmResult
from somaagent.domain.text_checks import storable, text_problem
from somaagent.domain.tool_card import tool_card
from somaagent.domain.tools import Attachment, ToolCall, ToolResult
from somaagent.domain.turn_state import TurnState

log = structlog.get_logger(__name__)


#: Attempts of one step (the consumer redelivers a retriable failure) before the turn fails.
MAX_ATTEMPTS = 3
#: Attempts of one step in all: each restart (its worker died, or a rebalance moved its
#: partition while it ran) starts the step again from scratch; past this the turn fails
#: visibly instead of restarting without end while faults keep coming.
MAX_RESTARTS = 5


@dataclass(frozen=True)
class TurnSettings:
    answer_max_tokens: int = 256
    grounded_max_tokens: int = 96
    decision_max_tokens: int = 256
    tool_timeout_s: float = 60.0
    policy_wait_s: float = 900.0
    tool_requests_topic: str = TOPIC_TOOL_REQUESTS
    outbound_topic: str = TOPIC_CONVERSATION_OUTBOUND


class TurnRunner:
    def __init__(
        self,
        *,
        bus: EventBus,
        turns: TurnStateStore,
        preparer: TurnPreparer,
        persister: TurnPersister,
        models: ModelSelector,
        tools: ToolCatalog,
        personas: PersonaCatalog,
        gate: ToolGate,
        settings: TurnSettings,
    ) -> None:
        self._bus = bus
        self._turns = turns
        self._preparer = preparer
        self._persister = persister
        self._models = models
        self._tools = tools
        self._personas = personas
        self._gate = gate
        self._settings = settings
        self._answers = AnswerWriter(
            persister=persister,
            answer_max_tokens=settings.answer_max_tokens,
            grounded_max_tokens=settings.grounded_max_tokens,
        )

    # -- a user message ---------------------------------------------------
    async def on_message(self, event: Envelope) -> str:
        """Handle one inbound message; returns how it was claimed (new, restart, ...)."""
        message = payload_as(event, MessageReceived)
        problem = text_problem(message.text)  # past the gateway's check: record, then fail
        fresh = TurnState(
            correlation_id=event.correlation_id or event.event_id,
            session_id=event.session_id,
            tenant_id=event.tenant_id,
            persona_id=event.persona_id,
            inbound_event_id=event.event_id,
            user_text=message.text if problem is None else storable(message.text),
            requested_profile=message.model_profile,
        )
        claim, state = await self._turns.claim_inbound(fresh)
        if claim == "duplicate":
            await self._republish_if_waiting(state, event)
            return claim
        out = self._outbound(state, event.event_id)
        if claim == "restart" and not await self._restart(state, out):
            return claim
        if problem is not None:
            await self._fail(state, out, f"text: {problem}")
            return claim
        try:
            await out.emit("preprocessing", message="analysing your message")
            slm = await self._preparer.prepare(state)
            await self._advance(state, out, slm, message.attachments)
        except SomaError as exc:
            await self._retry_or_fail(state, out, exc)
        return claim

    async def _advance(
        self, state: TurnState, out: Outbound, slm: SlmResult, files: list[Attachment]
    ) -> None:
        if slm.high_risk():
            log.info("turn.safety_refusal", correlation_id=state.correlation_id)
            await self._answers.refuse(state, out, SAFETY_REFUSAL)
            return
        if files:  # a message about a file it names: document_query reads it for the answer
            query = {"attachment_id": files[0].attachment_id, "query": state.user_text[:500]}
            await out.emit("thinking", tool="document_query", message=f"reading {files[0].name}")
            await self._request_tool(state, out, UseTool("document_query", query))
            return
        model = await self._models.dialogue(state.tenant_id, state.requested_profile)
        persona = self._personas.get(state.persona_id)
        tools = self._tools.specs(persona.tools)
        tool = route(slm, persona.tool_intents, tools)
        state.routed_by = "slm" if tool is not None else None
        if tool is None and unsure(slm, persona.tool_intents, tools):
            tool = await self._choose(model, state, tools)
        if tool is not None and state.tool_rounds < MAX_TOOL_ROUNDS:
            await out.emit("thinking", tool=tool.name, message=f"preparing {tool.name}")
            from_slots = slot_arguments(tool, persona.tool_arguments, slm)
            decision: Decision = (
                UseTool(tool.name, from_slots)
                if from_slots is not None
                else await self._arguments(model, state, tool)
            )
            if isinstance(decision, UseTool):
                await self._request_tool(state, out, decision)
                return
        await self._answers.stream(state, out, model, private=persona.system_prompt)

    async def _choose(
        self, model: ChatModel, state: TurnState, tools: list[ToolSpec]
    ) -> ToolSpec | None:
        """The SLM was unsure: the dialogue model picks a tool or none, under a schema."""
        result = await model.complete(
            ChatRequest(
                messages=choice_messages(state.prompt, tools),
                json_schema=choice_schema(tools),
                max_tokens=16,
                temperature=0.0,
            )
        )
        state.count(result)
        chosen = parse_choice(result.text, tools)
        state.routed_by = "model"
        log.info(
            "turn.tool_chosen_by_model",
            correlation_id=state.correlation_id,
            tool=chosen.name if chosen else None,
        )
        return chosen

    async def _arguments(
        self,
        model: ChatModel,
        state: TurnState,
        tool: ToolSpec,
        messages: list[dict[str, Any]] | None = None,
    ) -> Decision:
        result = await model.complete(
            argument_request(
                messages or argument_messages(state.prompt, tool),
                tool,
                self._settings.decision_max_tokens,
            )
        )
        state.count(result)
        decided = parse_arguments(result.text, tool)
        # the tool only: arguments can carry what the user wrote, which stays out of info logs
        log.info(
            "turn.decided",
            correlation_id=state.correlation_id,
            tool=decided.tool if isinstance(decided, UseTool) else None,
        )
        return decided

    async def _request_tool(self, state: TurnState, out: Outbound, use: UseTool) -> None:
        call = ToolCall(
            tool=use.tool,
            arguments=use.arguments,
            session_id=state.session_id,
            tenant_id=state.tenant_id,
            persona_id=state.persona_id,
            correlation_id=state.correlation_id,
            timeout_s=self._settings.tool_timeout_s,
        )
        envelope = tool_envelope(call, causation_id=state.inbound_event_id)
        verdict = await self._gate.check_tool_request(
            call, envelope, self._settings.tool_requests_topic
        )
        state.tool_calls.append(call)
        state.policy_verdicts.append(verdict)
        # status first: its seq must be in the saved state, or a resumed turn repeats it
        if not verdict.allow:
            reason = "; ".join(verdict.reasons) or "policy denied the tool request"
            await out.emit(
                "waiting_for_policy",
                tool=call.tool,
                reason=reason,
                message=f"{call.tool} is held for an admin's review: {reason}",
            )
            wait = self._settings.policy_wait_s
            state.wait_for("awaiting_policy", call.request_id, utc_now() + timedelta(seconds=wait))
            await self._persister.hold(state)  # its events so far join the history now
            return
        await out.emit("calling_tool", tool=call.tool, message=f"calling {call.tool}")
        deadline = utc_now() + timedelta(seconds=call.timeout_s + 5)
        state.wait_for("awaiting_tool", call.request_id, deadline)
        await self._turns.save(state)  # durable before the request leaves
        await self._bus.publish(self._settings.tool_requests_topic, envelope)

    async def _republish_if_waiting(self, state: TurnState, event: Envelope) -> None:
        """A redelivered message whose turn saved its tool wait but may have died before
        the request left: publish the same request again (the executor is idempotent)."""
        if state.status == "awaiting_tool" and state.inbound_event_id == event.event_id:
            pending = [c for c in state.tool_calls if c.request_id == state.awaiting_request_id]
            for call in pending:
                envelope = tool_envelope(call, causation_id=state.inbound_event_id)
                await self._bus.publish(self._settings.tool_requests_topic, envelope)

    # -- a tool result ----------------------------------------------------
    async def on_tool_result(self, event: Envelope) -> str:
        result = payload_as(event, ToolResult)
        correlation = event.correlation_id or ""
        claim, state = await self._turns.claim_result(
            correlation, result.request_id, event.event_id
        )
        if state is None or claim == "duplicate":
            return claim
        out = self._outbound(state, event.event_id)
        if claim == "restart" and not await self._restart(state, out):
            return claim
        call = next(c for c in state.tool_calls if c.request_id == result.request_id)
        state.tool_results.append(result)
        if result.policy_verdict is not None:  # an admin resolved the held call
            state.policy_verdicts.append(result.policy_verdict)
        state.tool_rounds += 1
        operation = memory_operation(call, result)
        if operation is not None:
            state.memory_operations.append(operation)
        try:
            await out.emit(
                "tool_result",
                tool=call.tool,
                message=f"{call.tool}: {result.status}",
                card=tool_card(call, result),
            )
            model = await self._models.dialogue(state.tenant_id, state.requested_profile)
            if await self._repair(model, state, out, call, result):
                return claim
            await self._answers.grounded(state, out, model, call, result)
        except SomaError as exc:
            await self._retry_or_fail(state, out, exc)
        return claim

    async def _repair(
        self, model: ChatModel, state: TurnState, out: Outbound, call: ToolCall, result: ToolResult
    ) -> bool:
        """Code that raised gets one more round: the model reads the error and writes
        corrected code, which runs like any tool call. True when the new request left."""
        if not needs_repair(call, result) or state.tool_rounds >= MAX_TOOL_ROUNDS:
            return False
        persona = self._personas.get(state.persona_id)
        tool = next((t for t in self._tools.specs(persona.tools) if t.name == call.tool), None)
        if tool is None:
            return False
        await out.emit("thinking", tool=tool.name, message=f"fixing the {tool.name} error")
        messages = repair_messages(state.prompt, tool, call, result)
        decision = await self._arguments(model, state, tool, messages)
        if not isinstance(decision, UseTool) or decision.arguments == call.arguments:
            return False
        await self._request_tool(state, out, decision)
        return True

    # -- failing ------------------------------------------------------------
    async def _restart(self, state: TurnState, out: Outbound) -> bool:
        """Announce the step's new attempt; past MAX_RESTARTS fail the turn instead (False)."""
        if state.attempt > MAX_RESTARTS:
            reason = (
                f"this turn was interrupted {state.attempt - 1} times (a worker stopped or "
                "its work moved to another worker); send the message again"
            )
            await self._fail(state, out, reason)
            return False
        await out.emit("restarted", message=f"attempt {state.attempt} of this turn")
        return True

    async def _retry_or_fail(self, state: TurnState, out: Outbound, exc: SomaError) -> None:
        """A retriable failure (a backend down) is raised so the consumer redelivers and the
        step runs again as a new attempt; on the last attempt, or for anything else, the turn
        fails visibly instead of waiting forever. A superseded attempt stops quietly: the
        newer attempt owns the turn and its end."""
        if isinstance(exc, SupersededError) or (exc.retriable and state.attempt < MAX_ATTEMPTS):
            raise exc
        if isinstance(exc, BackendError):  # details (hosts, ports) go to the log, not the user
            log.warning(
                "turn.backend_failed", correlation_id=state.correlation_id, error=exc.message
            )
            await self._fail(
                state,
                out,
                f"a service this turn needs is unavailable ({type(exc).__name__}); "
                "try again shortly",
            )
            return
        await self._fail(state, out, exc.message)

    async def _fail(self, state: TurnState, out: Outbound, reason: str) -> None:
        log.warning("turn.failed", correlation_id=state.correlation_id, reason=reason)
        await self._persister.fail(state, reason)
        await out.emit("error", reason=reason)

    async def expire(self) -> int:
        """Fail every waiting turn past its deadline; returns how many."""
        expired = await self._persister.expire_waiting()
        for state, reason in expired:
            await self._outbound(state, None).emit("error", reason=reason)
        return len(expired)

    def _outbound(self, state: TurnState, causation_id: str | None) -> Outbound:
        return Outbound(
            self._bus, state, causation_id=causation_id, topic=self._settings.outbound_topic
        )
