"""A seed's `defaults:` map: one line per role names its default profile."""

from __future__ import annotations

import pytest

from somaagent.application import model_profiles as mp
from somaagent.cli.models import DEFAULT_SEED, seed_urls
from somaagent.domain.errors import ValidationError
from somaagent.settings import CommonSettings

PROFILES = """
profiles:
  - {name: small, role: dialogue, base_url: 'http://x/v1', model: m}
  - {name: large, role: dialogue, base_url: 'http://x/v1', model: m, fallback: [small]}
  - {name: sum, role: summarizer, base_url: 'http://x/v1', model: m}
"""


def chain(text: str) -> list[str]:
    seed = mp.parse_seed(text, {})
    return [p.name for p in mp.select_chain(seed.profiles, seed.overrides, "t", "dialogue")]


def test_the_defaults_map_picks_each_roles_default() -> None:
    assert chain(PROFILES + "defaults: {dialogue: small}") == ["small"]
    assert chain(PROFILES + "defaults: {dialogue: large}") == ["large", "small"]


def test_switching_the_shipped_dialogue_default_to_the_0_5b_is_one_line(
    settings: CommonSettings,
) -> None:
    text = DEFAULT_SEED.read_text()
    line = "  dialogue: dialogue-qwen-1.5b\n"
    assert text.count(line) == 1
    seed = mp.parse_seed(
        text.replace(line, "  dialogue: dialogue-qwen-0.5b\n"), seed_urls(settings)
    )
    picked = mp.select_chain(seed.profiles, seed.overrides, "t", "dialogue")
    assert [p.name for p in picked] == ["dialogue-qwen-0.5b", "dialogue-smollm2-135m"]
    shipped = mp.parse_seed(text, seed_urls(settings))
    picked = mp.select_chain(shipped.profiles, shipped.overrides, "t", "dialogue")
    assert [p.name for p in picked] == [
        "dialogue-qwen-1.5b",
        "dialogue-qwen-0.5b",
        "dialogue-smollm2-135m",
    ]
    assert [p.url for p in picked] == [
        settings.llm.large_url(),
        settings.llm.dialogue_url(),
        settings.llm.fallback_url(),
    ]
    assert sum(p.is_default for p in seed.profiles if p.role == "dialogue") == 1


@pytest.mark.parametrize(
    ("defaults", "field", "reason"),
    [
        ("defaults: {dialogue: nobody}", "defaults.dialogue", "unknown profile"),
        ("defaults: {dialogue: sum}", "defaults.dialogue", "summarizer profile"),
        ("defaults: {chat: small}", "defaults.chat", "unknown role"),
        ("defaults: [small]", "defaults", "a map"),
    ],
)
def test_a_bad_defaults_entry_names_the_field(defaults: str, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        mp.parse_seed(PROFILES + defaults, {})
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_a_role_is_defaulted_by_the_map_or_by_is_default_not_both() -> None:
    text = PROFILES.replace("model: m, fallback", "model: m, is_default: true, fallback")
    with pytest.raises(ValidationError) as caught:
        mp.parse_seed(text + "defaults: {dialogue: small}", {})
    assert (caught.value.field, caught.value.reason) == (
        "defaults.dialogue",
        "large also says is_default: true",
    )
