"""Writing a turn's answer: streamed, grounded in a tool's result, or refused; then finished.

    stream(state, out, model, private=...)      a plain answer, streamed token by token;
                                                cut off if it repeats the system prompt
    grounded(state, out, model, call, result)   after a tool round: answer from the result,
                                                checked; one stricter retry; then a template
    refuse(state, out, text)                    a high-risk message: a fixed reply, no model

A grounded answer is written whole before the user sees it (the check needs the whole
reply), then sent as one delta; the tool's card has already reached the user by then.
Every path ends the same way: the turn is persisted, then `completed` is published, and
the turn records which path its answer took.
"""

from __future__ import annotations

import time
from contextlib import aclosing

import structlog
from prometheus_client import Counter

from somaagent.application.agent_loop import GUARDED_INSTRUCTION, SAFETY_REFUSAL
from somaagent.application.conversation.outbound import Outbound
from somaagent.application.conversation.persist import TurnPersister
from somaagent.application.grounding import (
    AnswerPath,
    confirmed_save,
    grounded_prompt,
    grounding_problem,
    silent,
    stricter_prompt,
    templated_reply,
)
from somaagent.application.prompt_guard import LeakGuard
from somaagent.domain.errors import SomaError
from somaagent.domain.llm import ChatDelta, ChatModel, ChatRequest, ChatResult
from somaagent.domain.tools import ToolCall, ToolResult
from somaagent.domain.turn_state import TurnState

log = structlog.get_logger(__name__)

ANSWER_PATHS = Counter(
    "conversation_answer_path_total",
    "Finished turns by how their answer was written (model, tool_answer, tool_retry, "
    "tool_template, save_confirmed, safety_refusal, prompt_withheld).",
    ["path"],
)
#: Tokens of the stricter retry (one sentence).
RETRY_MAX_TOKENS = 48


class AnswerWriter:
    def __init__(
        self,
        *,
        persister: TurnPersister,
        answer_max_tokens: int,
        grounded_max_tokens: int,
    ) -> None:
        self._persister = persister
        self._answer_max_tokens = answer_max_tokens
        self._grounded_max_tokens = grounded_max_tokens

    async def stream(
        self, state: TurnState, out: Outbound, model: ChatModel, *, private: str
    ) -> None:
        """Stream the model's answer; one that starts repeating `private` (the persona's
        system prompt: not the running summary, whose facts a reply may well restate) is
        cut off there and answered with the safety refusal (see `prompt_guard`)."""
        request = ChatRequest(messages=state.prompt, max_tokens=self._answer_max_tokens)
        guard = LeakGuard(f"{private}\n{GUARDED_INSTRUCTION}")
        result: ChatResult | None = None
        async with aclosing(model.stream(request)) as items:
            async for item in items:
                if not isinstance(item, ChatDelta):
                    result = item
                elif shown := guard.feed(item.text):
                    await out.delta(shown, time.perf_counter())
                if guard.leaked:
                    break
        if not guard.leaked and (rest := guard.finish()):
            await out.delta(rest, time.perf_counter())
        if guard.leaked:
            log.warning("turn.prompt_withheld", correlation_id=state.correlation_id)
            await out.delta(SAFETY_REFUSAL, time.perf_counter())
            if result is not None:  # the repeat was found in the answer's last words
                state.count(result)
            # cut before the model's result: the turn is still the streaming profile's
            profile = state.model_profile or ""
            cut = result or ChatResult(text="", latency_s=0.0, model="", profile=profile)
            await self._finish(
                state, out, cut.model_copy(update={"text": SAFETY_REFUSAL}), "prompt_withheld"
            )
            return
        if result is None:  # pragma: no cover - the client always ends with a result
            raise SomaError("the model stream ended without a result")
        state.count(result)
        await self._finish(state, out, result, "model")

    async def grounded(
        self, state: TurnState, out: Outbound, model: ChatModel, call: ToolCall, result: ToolResult
    ) -> None:
        system = str(state.prompt[0].get("content", "")) if state.prompt else ""
        state.prompt = grounded_prompt(state.prompt, call, result)
        path: AnswerPath
        saved = confirmed_save(call) if result.status == "ok" else None
        if saved is not None:  # nothing to state but what was saved, in the user's terms
            answer = ChatResult(text=saved, latency_s=0.0, model="", profile="")
            path = "save_confirmed"
        elif silent(call, result):  # nothing to report: a model could only invent a value
            log.info(
                "turn.grounding.template", correlation_id=state.correlation_id, why="no output"
            )
            answer = ChatResult(
                text=templated_reply(call, result), latency_s=0.0, model="", profile=""
            )
            path = "tool_template"
        else:
            answer, path = await self._checked(state, model, system, call, result)
        await out.delta(answer.text, time.perf_counter())
        await self._finish(state, out, answer, path)

    async def _checked(
        self, state: TurnState, model: ChatModel, system: str, call: ToolCall, result: ToolResult
    ) -> tuple[ChatResult, AnswerPath]:
        """The model's answer if it passes the check, else one stricter retry, else the
        templated reply."""
        answer = await self._complete(state, model, state.prompt, self._grounded_max_tokens)
        problem = grounding_problem(answer.text, call, result)
        if problem is None:
            return answer, "tool_answer"
        log.info("turn.grounding.retry", correlation_id=state.correlation_id, why=problem)
        retry = stricter_prompt(system, state.user_text, call, result)
        answer = await self._complete(state, model, retry, RETRY_MAX_TOKENS)
        problem = grounding_problem(answer.text, call, result)
        if problem is None:
            return answer, "tool_retry"
        log.info("turn.grounding.template", correlation_id=state.correlation_id, why=problem)
        return answer.model_copy(update={"text": templated_reply(call, result)}), "tool_template"

    async def refuse(self, state: TurnState, out: Outbound, text: str) -> None:
        answer = ChatResult(text=text, latency_s=0.0, model="", profile="")
        await out.delta(text, time.perf_counter())
        await self._finish(state, out, answer, "safety_refusal")

    async def _complete(
        self,
        state: TurnState,
        model: ChatModel,
        messages: list[dict[str, object]],
        max_tokens: int,
    ) -> ChatResult:
        request = ChatRequest(messages=messages, max_tokens=max_tokens, temperature=0.0)
        result = await model.complete(request)
        state.count(result)
        return result.model_copy(update={"text": result.text.strip()})

    async def _finish(
        self, state: TurnState, out: Outbound, result: ChatResult, path: AnswerPath
    ) -> None:
        state.answer_path = path
        ANSWER_PATHS.labels(path).inc()
        turn = await self._persister.complete(state, answer=result, ttft_s=result.ttft_s)
        await out.emit(
            "completed",
            text=result.text,
            model_profile=result.profile or state.model_profile or None,
            usage=turn.usage.model_dump(),
            latencies={
                "slm_s": state.slm_s,
                "ttft_s": result.ttft_s or 0.0,
                "total_s": turn.latency_s or 0.0,
            },
            annotations=state.slm or None,
            answer_path=path,
        )
        await self._persister.after_commit(state)
