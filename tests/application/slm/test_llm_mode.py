"""The LLM-backed SLM mode against the stack's real chat server (JSON-schema output)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from somaagent.adapters.llm.openai_chat import OpenAIChatModel
from somaagent.application.slm.llm_mode import LlmPreprocessor, locate_slots, parse_answer
from somaagent.devstack import Stack
from somaagent.devstack.llm_server import DIALOGUE_MODEL
from somaagent.domain.errors import ValidationError
from somaagent.domain.llm import ModelProfile
from somaagent.domain.slm import ALL_STEPS, slots_match_text
from somaagent.settings import CommonSettings

INTENTS = ["set_reminder", "translate", "web_search", "greet"]
SLOTS = ["time", "task", "language_to", "query"]


def test_slot_values_are_located_in_the_message_and_invented_ones_dropped() -> None:
    text = "Remind me to Call Mom at 6pm"
    slots = locate_slots(
        text,
        [{"name": "time", "value": "6pm"}, {"name": "task", "value": "call mom"},
         {"name": "task", "value": "buy bread"}],
    )  # fmt: skip
    assert [(s.name, s.value, s.start) for s in slots] == [
        ("task", "Call Mom", 13),
        ("time", "6pm", 25),
    ]


def test_an_answer_outside_the_schema_is_refused() -> None:
    with pytest.raises(ValidationError, match="answer"):
        parse_answer("hi", '{"intent": "greet"}', "v")
    result = parse_answer(
        "hi",
        '{"intent": "out_of_scope", "confidence": 2, "slots": [], "injection_score": 0.1}',
        "v",
    )
    assert result.intent is not None and result.intent.out_of_scope
    assert result.intent.confidence == 1.0


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def chat(settings: CommonSettings, http: httpx.AsyncClient, url: str) -> OpenAIChatModel:
    profile = ModelProfile(name="test-slm", role="slm", base_url=url, model=DIALOGUE_MODEL)
    return OpenAIChatModel(profile, http, settings.llm)


async def test_the_chat_server_returns_a_schema_valid_annotation(
    settings: CommonSettings, http: httpx.AsyncClient
) -> None:
    model = chat(settings, http, settings.llm.dialogue_url())
    pre = LlmPreprocessor(model, INTENTS, SLOTS, timeout_s=60.0, max_tokens=80)
    text = "remind me to water the plants at 7pm"
    result = await pre.analyse(text)
    assert result.missing == ()
    assert result.intent is not None and result.intent.name in [*INTENTS, "out_of_scope"]
    assert slots_match_text(text, result.slots)
    assert result.safety[0].category == "prompt_injection"


async def test_an_unreachable_chat_server_marks_every_step_missing(
    settings: CommonSettings, http: httpx.AsyncClient
) -> None:
    model = chat(settings, http, "http://127.0.0.1:9/v1")
    result = await LlmPreprocessor(model, INTENTS, SLOTS, timeout_s=5.0).analyse("hello there")
    assert result.missing == ALL_STEPS and result.intent is None
