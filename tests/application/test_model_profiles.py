"""Model profiles: the seed file, selection with overrides and fallbacks, the stored summary."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.application import model_profiles as mp
from somaagent.cli.models import DEFAULT_SEED, seed_urls
from somaagent.domain.errors import NotFoundError, ValidationError
from somaagent.domain.llm import ModelProfile, ProfileOverride
from somaagent.settings import CommonSettings

URLS = {"dialogue_url": "http://127.0.0.1:1/v1", "fallback_url": "http://127.0.0.1:2/v1"}


@pytest.fixture
async def restores_shipped_defaults(
    pg_pool: asyncpg.Pool, settings: CommonSettings
) -> AsyncIterator[None]:
    """The run's schema is shared: tests that move a role's default put the shipped
    profiles back as the defaults afterwards."""
    yield
    shipped = mp.parse_seed(DEFAULT_SEED.read_text(), seed_urls(settings))
    store = PostgresModelProfileStore(pg_pool)
    await mp.seed(store, shipped)
    for role in ("dialogue", "summarizer"):
        chosen = (await mp.select(store, "any-tenant", role))[0].name
        assert chosen == next(p.name for p in shipped.profiles if p.role == role and p.is_default)


def profile(name: str, role: str = "dialogue", **kw: object) -> ModelProfile:
    return ModelProfile.model_validate(
        {"name": name, "role": role, "base_url": "http://127.0.0.1:9/v1", "model": "m", **kw}
    )


def test_the_shipped_seed_file_is_valid(settings: CommonSettings) -> None:
    seed = mp.parse_seed(DEFAULT_SEED.read_text(), seed_urls(settings))
    chain = mp.select_chain(seed.profiles, seed.overrides, "any-tenant", "dialogue")
    assert [p.name for p in chain] == [
        "dialogue-qwen-1.5b",
        "dialogue-qwen-0.5b",
        "dialogue-smollm2-135m",
    ]
    assert chain[0].url == settings.llm.large_url()
    assert chain[1].url == settings.llm.dialogue_url()
    assert chain[2].url == settings.llm.fallback_url()
    assert {p.role for p in seed.profiles if p.is_default} == {
        "dialogue",
        "summarizer",
        "slm",
        "embedding",
    }


def test_override_wins_and_fallbacks_follow_without_repeats() -> None:
    profiles = [
        profile("big", is_default=True, fallback=["mid", "small"]),
        profile("mid", fallback=["small", "tiny"]),
        profile("small", fallback=["big"]),
        profile("tiny"),
    ]
    overrides = [ProfileOverride(tenant_id="acme", role="dialogue", profile="small")]
    assert [p.name for p in mp.select_chain(profiles, overrides, "other", "dialogue")] == [
        "big",
        "mid",
        "small",
        "tiny",
    ]
    assert [p.name for p in mp.select_chain(profiles, overrides, "acme", "dialogue")] == [
        "small",
        "big",
        "mid",
        "tiny",
    ]
    with pytest.raises(NotFoundError, match="summarizer"):
        mp.select_chain(profiles, overrides, "acme", "summarizer")
    # a profile the message asked for starts the chain, whatever the tenant's override
    asked = mp.select_chain(profiles, overrides, "acme", "dialogue", "mid")
    assert [p.name for p in asked] == ["mid", "small", "tiny", "big"]
    with pytest.raises(NotFoundError, match="no-such"):
        mp.select_chain(profiles, overrides, "acme", "dialogue", "no-such")


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        (
            "profiles: [{name: a, role: chat, base_url: 'http://x/v1', model: m}]",
            "profiles[0].role",
        ),
        (
            "profiles: [{name: a, role: slm, base_url: '{nowhere}', model: m}]",
            "profiles[0].base_url",
        ),
        (
            "profiles: [{name: a, role: slm, base_url: 'http://x/v1', model: m, fallback: [b]}]",
            "a.fallback",
        ),
        (
            "profiles: [{name: a, role: slm, base_url: 'http://x/v1', model: m, fallback: [a]}]",
            "profiles[0].fallback",
        ),
        (
            "profiles: [{name: A!, role: slm, base_url: 'http://x/v1', model: m}]",
            "profiles[0].name",
        ),
        ("nothing: here", "profiles"),
        (
            "profiles: [{name: a, role: slm, base_url: 'http://x/v1', model: m, is_default: true},"
            " {name: b, role: slm, base_url: 'http://x/v1', model: m, is_default: true}]",
            "b.is_default",
        ),
        (
            "profiles: [{name: a, role: slm, base_url: 'http://x/v1', model: m}]\n"
            "overrides: [{tenant_id: t, role: slm, profile: zzz}]",
            "overrides.t.profile",
        ),
    ],
)
def test_a_bad_seed_names_the_field(yaml_text: str, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        mp.parse_seed(yaml_text, URLS)
    assert caught.value.field == field


def renamed(seed: mp.ProfileSeed, suffix: str) -> list[ModelProfile]:
    return [
        p.model_copy(
            update={"name": p.name + suffix, "fallback": tuple(f + suffix for f in p.fallback)}
        )
        for p in seed.profiles
    ]


async def test_seeding_is_idempotent_and_selection_reads_the_store(
    pg_pool: asyncpg.Pool,
    settings: CommonSettings,
    unique: Callable[[str], str],
    restores_shipped_defaults: None,
) -> None:
    store = PostgresModelProfileStore(pg_pool)
    suffix = "-" + unique("t")[-8:]
    profiles = renamed(mp.parse_seed(DEFAULT_SEED.read_text(), seed_urls(settings)), suffix)
    loaded = mp.ProfileSeed(tuple(profiles), ())

    assert await mp.seed(store, loaded) == len(profiles)
    assert await mp.seed(store, loaded) == 0

    tenant = unique("tenant")
    chain = await mp.select(store, tenant, "dialogue")
    assert [p.name for p in chain] == [
        f"dialogue-qwen-1.5b{suffix}",
        f"dialogue-qwen-0.5b{suffix}",
        f"dialogue-smollm2-135m{suffix}",
    ]
    assert chain[0] == next(p for p in profiles if p.name == chain[0].name)

    small = f"dialogue-smollm2-135m{suffix}"
    await store.set_override(ProfileOverride(tenant_id=tenant, role="dialogue", profile=small))
    assert [p.name for p in await mp.select(store, tenant, "dialogue")] == [small]
    rows = {row["name"]: row for row in await mp.summary(store)}
    assert rows[small]["override_tenants"] == [tenant]
    assert rows[f"dialogue-qwen-1.5b{suffix}"]["is_default"] is True
    assert rows[f"dialogue-qwen-0.5b{suffix}"]["fallback"] == [small]


async def test_a_new_default_replaces_the_old_one(
    pg_pool: asyncpg.Pool, unique: Callable[[str], str], restores_shipped_defaults: None
) -> None:
    store = PostgresModelProfileStore(pg_pool)
    first, second = unique("a").lower(), unique("b").lower()
    await store.upsert_profiles([profile(first, "summarizer", is_default=True)])
    await store.upsert_profiles([profile(second, "summarizer", is_default=True)])
    defaults = [
        p.name for p in await store.list_profiles() if p.role == "summarizer" and p.is_default
    ]
    assert defaults == [second]


async def test_an_override_for_an_unknown_profile_names_the_field(
    pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    store = PostgresModelProfileStore(pg_pool)
    with pytest.raises(ValidationError) as caught:
        await store.set_override(
            ProfileOverride(tenant_id=unique("t"), role="dialogue", profile="no-such-profile")
        )
    assert caught.value.field == "profile"
