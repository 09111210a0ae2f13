"""`model` of an OpenAI request as a model profile, and whether that model answers.

A model id is a model profile's name (`GET /v1/models` lists them). A chat request names
a dialogue profile: an unknown name, or a profile of another role, is 404 model_not_found.
Any dialogue profile may be named: the message carries it (`MessageReceived.model_profile`)
and the conversation worker runs the turn on it with its own fallbacks, instead of the
tenant's profile (its override, else the default). Before a turn starts, the profile's
chain is probed (GET <base_url>/models): when no server of the chain answers, the request
is refused with 503 and no turn is run. The profiles are reused for PROFILE_TTL_S and each
probe's answer for `model_probe_ttl_s`, so a request usually pays neither a database read
nor a probe (bench/openai_facade.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.application import model_profiles
from somaagent.domain.errors import NotFoundError
from somaagent.domain.llm import ModelProfile
from somaagent.services.gateway.openai_schema import OpenAiError

#: Seconds to wait before retrying when every model of the chain is down.
DOWN_RETRY_AFTER_S = 5


def model_not_found(model: str, reason: str) -> OpenAiError:
    return OpenAiError(
        404, "not_found_error", "model_not_found", f"model {model!r}: {reason}", "model"
    )


def choose(known: list[ModelProfile], model: str) -> ModelProfile:
    """The dialogue profile `model` names (pure); 404 for anything else."""
    named = next((p for p in known if p.name == model), None)
    if named is None:
        names = ", ".join(p.name for p in known if p.role == "dialogue")
        raise model_not_found(model, f"no such model; chat models: {names}")
    if named.role != "dialogue":
        raise model_not_found(model, f"a {named.role} profile, not a chat model")
    return named


#: Seconds the profiles and a tenant's overrides are reused (as the worker's own cache).
PROFILE_TTL_S = 10.0
#: Tenants whose profile chains are kept at most.
CACHE_MAX = 10_000


@dataclass
class ModelGate:
    """Resolves a request's `model`: profiles (cached PROFILE_TTL_S) and server probes
    (each answer reused `probe_ttl_s`), on one long-lived HTTP client."""

    http: httpx.AsyncClient
    store: PostgresModelProfileStore
    probe_ttl_s: float
    _seen: dict[str, tuple[float, bool]] = field(default_factory=dict)
    _chains: dict[str, tuple[float, list[ModelProfile], list[ModelProfile]]] = field(
        default_factory=dict
    )

    async def up(self, profile: ModelProfile) -> bool:
        url = profile.url
        hit = self._seen.get(url)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        try:
            answer = await self.http.get(f"{url}/models")
            alive = answer.status_code < 500  # 401/404 still means a server answers
        except httpx.HTTPError:
            alive = False
        self._seen[url] = (time.monotonic() + self.probe_ttl_s, alive)
        return alive

    async def any_up(self, chain: list[ModelProfile]) -> bool:
        for profile in chain:
            if await self.up(profile):
                return True
        return False

    async def profiles(self, tenant_id: str) -> tuple[list[ModelProfile], list[ModelProfile]]:
        """(every profile, the tenant's dialogue chain); 404 when the tenant has none."""
        hit = self._chains.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1], hit[2]
        known = await self.store.list_profiles()
        overrides = await self.store.list_overrides(tenant_id)
        try:
            chain = model_profiles.select_chain(known, overrides, tenant_id, "dialogue")
        except NotFoundError as exc:
            raise model_not_found("*", exc.message) from exc
        if len(self._chains) >= CACHE_MAX:  # bounded: a cache, not a registry of tenants
            self._chains.clear()
        self._chains[tenant_id] = (time.monotonic() + PROFILE_TTL_S, known, chain)
        return known, chain

    async def resolve(self, tenant_id: str, model: str) -> ModelProfile:
        """The dialogue profile a request runs on; 404/400 for a wrong model, 503 when down."""
        known, chain = await self.profiles(tenant_id)
        profile = choose(known, model)
        if profile.name != chain[0].name:  # another dialogue profile than the tenant's own
            chain = model_profiles.select_chain(known, [], tenant_id, "dialogue", profile.name)
        if not await self.any_up(chain):
            names = ", ".join(p.name for p in chain)
            raise OpenAiError(
                503,
                "service_unavailable",
                "model_unavailable",
                f"model {model!r} is down (no server of {names} answers); try again shortly",
                "model",
                retry_after_s=DOWN_RETRY_AFTER_S,
            )
        return profile
