"""The fallback chain over real servers: stop the first, the next one answers."""

from __future__ import annotations

import httpx
import pytest

from somaagent.adapters.llm import FallbackChatModel, OpenAIChatModel
from somaagent.domain.errors import BackendUnavailableError, ValidationError
from somaagent.domain.llm import ChatRequest, ChatResult, ModelProfile
from somaagent.settings import CommonSettings

from .conftest import OwnServer, free_port

REQUEST = ChatRequest(messages=[{"role": "user", "content": "Say hello."}], max_tokens=8)


async def final(model: FallbackChatModel) -> tuple[int, ChatResult]:
    deltas = 0
    async for item in model.stream(REQUEST):
        if isinstance(item, ChatResult):
            return deltas, item
        deltas += 1
    raise AssertionError("no ChatResult")


async def test_stopping_the_first_server_hands_the_turn_to_the_fallback(
    own_dialogue_server: OwnServer,
    small_profile: ModelProfile,
    http: httpx.AsyncClient,
    settings: CommonSettings,
) -> None:
    first = ModelProfile(
        name="own-dialogue",
        role="dialogue",
        base_url=own_dialogue_server.url,
        model=own_dialogue_server.alias,
        fallback=(small_profile.name,),
    )
    chain = FallbackChatModel(
        [
            OpenAIChatModel(first, http, settings.llm, backoff_s=0.05),
            OpenAIChatModel(small_profile, http, settings.llm),
        ]
    )

    deltas, before = await final(chain)
    assert (before.profile, before.skipped_profiles) == ("own-dialogue", ())
    assert before.model == own_dialogue_server.alias
    assert deltas > 0

    own_dialogue_server.stop()

    deltas, after = await final(chain)
    assert after.profile == small_profile.name
    assert after.skipped_profiles == ("own-dialogue",)
    assert after.model == small_profile.model
    assert deltas > 0 and after.text.strip()

    whole = await chain.complete(REQUEST)
    assert (whole.profile, whole.skipped_profiles) == (small_profile.name, ("own-dialogue",))


async def test_a_chain_with_every_server_down_names_each_failure(
    http: httpx.AsyncClient, settings: CommonSettings
) -> None:
    models = [
        OpenAIChatModel(
            ModelProfile(
                name=name,
                role="dialogue",
                base_url=f"http://127.0.0.1:{free_port()}/v1",
                model="m",
            ),
            http,
            settings.llm,
            retries=0,
        )
        for name in ("first", "second")
    ]
    chain = FallbackChatModel(models)

    with pytest.raises(BackendUnavailableError, match=r"first -> second failed: first: .*second:"):
        await final(chain)


def test_an_empty_chain_is_refused() -> None:
    with pytest.raises(ValidationError, match="models"):
        FallbackChatModel([])
