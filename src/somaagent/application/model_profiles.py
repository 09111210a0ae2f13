"""Model profiles: seeding, selection per tenant and role, and the read-only summary.

Selection is pure: the tenant's override for the role wins, else the role's default; the
result is that profile followed by its fallback chain (each fallback's own fallbacks after
it, without repeats). Seeding validates the whole set before anything is written. A seed
names each role's default either in its `defaults:` map (role -> profile, one line per
role) or with `is_default: true` on the profile, not both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError as PydanticValidationError

from somaagent.domain.errors import NotFoundError, ValidationError
from somaagent.domain.llm import (
    MODEL_ROLES,
    ModelProfile,
    ModelProfileStore,
    ModelRole,
    ProfileOverride,
)

_M = TypeVar("_M", ModelProfile, ProfileOverride)


@dataclass(frozen=True)
class ProfileSeed:
    profiles: tuple[ModelProfile, ...]
    overrides: tuple[ProfileOverride, ...]


def parse_seed(text: str, urls: Mapping[str, str]) -> ProfileSeed:
    """profiles.yaml -> validated profiles; `urls` fills {dialogue_url}-style placeholders."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValidationError("profiles.yaml", f"not YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("profiles"), list):
        raise ValidationError("profiles", "a list of profiles is required")
    profiles = _with_defaults(
        tuple(
            _model(ModelProfile, f"profiles[{i}]", _fill(item, urls, i))
            for i, item in enumerate(raw["profiles"])
        ),
        raw.get("defaults"),
    )
    overrides = tuple(
        _model(ProfileOverride, f"overrides[{i}]", item)
        for i, item in enumerate(raw.get("overrides") or [])
    )
    check_profiles(profiles, overrides)
    return ProfileSeed(profiles, overrides)


def parse_override(item: Any) -> ProfileOverride:
    """One override from user input, with the field at fault named on error."""
    return _model(ProfileOverride, "override", item)


def _fill(item: Any, urls: Mapping[str, str], index: int) -> Any:
    if not isinstance(item, dict) or not isinstance(item.get("base_url"), str):
        return item
    try:
        return {**item, "base_url": item["base_url"].format_map(urls)}
    except KeyError as exc:
        known = ", ".join(sorted(urls))
        raise ValidationError(
            f"profiles[{index}].base_url", f"unknown placeholder {exc}; known: {known}"
        ) from exc


def _with_defaults(profiles: tuple[ModelProfile, ...], defaults: Any) -> tuple[ModelProfile, ...]:
    """Mark the profiles a seed's `defaults:` map names as their roles' defaults."""
    if defaults is None:
        return profiles
    if not isinstance(defaults, dict):
        raise ValidationError("defaults", "a map of role: profile name is required")
    by_name = {p.name: p for p in profiles}
    for role, name in defaults.items():
        where = f"defaults.{role}"
        if role not in MODEL_ROLES:
            raise ValidationError(where, f"unknown role; known: {', '.join(MODEL_ROLES)}")
        if name not in by_name:
            raise ValidationError(where, f"unknown profile {name!r}")
        if by_name[name].role != role:
            raise ValidationError(where, f"{name} is a {by_name[name].role} profile")
        marked = [p.name for p in profiles if p.role == role and p.is_default]
        if marked:
            raise ValidationError(where, f"{marked[0]} also says is_default: true")
    return tuple(
        p.model_copy(update={"is_default": True}) if defaults.get(p.role) == p.name else p
        for p in profiles
    )


def _model(cls: type[_M], where: str, item: Any) -> _M:
    try:
        return cls.model_validate(item)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ValidationError(f"{where}.{field}" if field else where, first["msg"]) from exc


def check_profiles(profiles: Sequence[ModelProfile], overrides: Sequence[ProfileOverride]) -> None:
    """Unique names, fallbacks and overrides that name known profiles, one default per role."""
    names = [p.name for p in profiles]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError("profiles.name", f"defined twice: {', '.join(duplicates)}")
    known = set(names)
    for p in profiles:
        missing = [f for f in p.fallback if f not in known]
        if missing:
            raise ValidationError(f"{p.name}.fallback", f"unknown profiles {', '.join(missing)}")
    defaults: dict[str, str] = {}
    for p in profiles:
        if p.is_default and p.role in defaults:
            raise ValidationError(
                f"{p.name}.is_default", f"{defaults[p.role]} is already the {p.role} default"
            )
        if p.is_default:
            defaults[p.role] = p.name
    for o in overrides:
        if o.profile not in known:
            raise ValidationError(f"overrides.{o.tenant_id}.profile", f"unknown {o.profile!r}")


def select_chain(
    profiles: Sequence[ModelProfile],
    overrides: Sequence[ProfileOverride],
    tenant_id: str,
    role: ModelRole,
    requested: str | None = None,
) -> list[ModelProfile]:
    """The profile `tenant_id` uses for `role` (the `requested` one when given: it must be
    a profile of that role), then its fallbacks in the order to try them."""
    by_name = {p.name: p for p in profiles}
    if requested is not None and getattr(by_name.get(requested), "role", None) != role:
        raise NotFoundError(f"no {role} model profile named {requested!r}")
    chosen = requested or next(
        (o.profile for o in overrides if (o.tenant_id, o.role) == (tenant_id, role)), None
    )
    if chosen is None:
        chosen = next((p.name for p in profiles if p.role == role and p.is_default), None)
    if chosen is None or chosen not in by_name:
        raise NotFoundError(f"no model profile for role {role!r} (tenant {tenant_id!r})")
    chain: list[ModelProfile] = []
    queue = [chosen]
    while queue:
        name = queue.pop(0)
        if name in by_name and all(p.name != name for p in chain):
            chain.append(by_name[name])
            queue.extend(by_name[name].fallback)
    return chain


async def seed(store: ModelProfileStore, loaded: ProfileSeed) -> int:
    """Write the seed (idempotent); returns how many profile rows changed."""
    changed = await store.upsert_profiles(list(loaded.profiles))
    for override in loaded.overrides:
        await store.set_override(override)
    return changed


async def select(
    store: ModelProfileStore, tenant_id: str, role: ModelRole, requested: str | None = None
) -> list[ModelProfile]:
    """select_chain over what the store holds now."""
    overrides = await store.list_overrides(tenant_id)
    return select_chain(await store.list_profiles(), overrides, tenant_id, role, requested)


async def summary(store: ModelProfileStore) -> list[dict[str, Any]]:
    """A read-only view of every profile for `soma models` and the gateway's API."""
    overrides = await store.list_overrides()
    rows = []
    for p in await store.list_profiles():
        tenants = sorted(o.tenant_id for o in overrides if o.profile == p.name)
        rows.append(
            {
                "name": p.name,
                "role": p.role,
                "model": p.model,
                "base_url": p.url,
                "temperature": p.parameters.temperature,
                "max_tokens": p.parameters.max_tokens,
                "context_window": p.parameters.context_window,
                "fallback": list(p.fallback),
                "is_default": p.is_default,
                "api_key_env": p.api_key_env,
                "override_tenants": tenants,
            }
        )
    return rows
