"""Model profiles and per-tenant overrides in PostgreSQL (the ModelProfileStore port)."""

from __future__ import annotations

import asyncpg
import orjson

from somaagent.adapters.postgres.driver_errors import Conn, connection
from somaagent.domain.constants import TABLE_MODEL_PROFILE_OVERRIDES, TABLE_MODEL_PROFILES
from somaagent.domain.errors import ValidationError
from somaagent.domain.llm import ModelParameters, ModelProfile, ProfileOverride

_UPSERT = f"""
INSERT INTO {TABLE_MODEL_PROFILES}
    (name, role, base_url, model, parameters, fallback, api_key_env, is_default, updated_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $8, false, now())
ON CONFLICT (name) DO UPDATE SET
    role = EXCLUDED.role, base_url = EXCLUDED.base_url, model = EXCLUDED.model,
    parameters = EXCLUDED.parameters, fallback = EXCLUDED.fallback,
    api_key_env = EXCLUDED.api_key_env, is_default = false, updated_at = now()
WHERE ({TABLE_MODEL_PROFILES}.role, {TABLE_MODEL_PROFILES}.base_url,
       {TABLE_MODEL_PROFILES}.model, {TABLE_MODEL_PROFILES}.parameters,
       {TABLE_MODEL_PROFILES}.fallback, {TABLE_MODEL_PROFILES}.api_key_env,
       {TABLE_MODEL_PROFILES}.is_default)
   IS DISTINCT FROM (EXCLUDED.role, EXCLUDED.base_url, EXCLUDED.model,
                     EXCLUDED.parameters, EXCLUDED.fallback, EXCLUDED.api_key_env,
                     $7::boolean)
"""


class PostgresModelProfileStore:
    """`model_profiles` and `model_profile_overrides` on a pool (search_path picks the schema)."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout_s = timeout_s

    async def upsert_profiles(self, profiles: list[ModelProfile]) -> int:
        """Insert or update profiles in one transaction; returns how many rows changed.

        A profile marked default becomes its role's only default.
        """
        changed = 0
        async with (
            connection(self._pool, None, self._timeout_s, "upsert profiles") as conn,
            conn.transaction(),
        ):
            for p in profiles:
                status = await conn.execute(
                    _UPSERT,
                    p.name,
                    p.role,
                    p.url,
                    p.model,
                    orjson.dumps(p.parameters.model_dump()).decode(),
                    list(p.fallback),
                    p.is_default,
                    p.api_key_env,
                    timeout=self._timeout_s,
                )
                changed += int(status.rsplit(" ", 1)[1])
            await self._mark_defaults(conn, [p for p in profiles if p.is_default])
        return changed

    async def _mark_defaults(self, conn: Conn, defaults: list[ModelProfile]) -> None:
        for p in defaults:
            await conn.execute(
                f"UPDATE {TABLE_MODEL_PROFILES} SET is_default = false"
                " WHERE role = $1 AND name <> $2 AND is_default",
                p.role,
                p.name,
                timeout=self._timeout_s,
            )
            await conn.execute(
                f"UPDATE {TABLE_MODEL_PROFILES} SET is_default = true"
                " WHERE name = $1 AND NOT is_default",
                p.name,
                timeout=self._timeout_s,
            )

    async def set_override(self, override: ProfileOverride) -> None:
        """Make `tenant_id` use `profile` for `role` (replacing an earlier override)."""
        async with connection(self._pool, None, self._timeout_s, "set override") as conn:
            try:
                await conn.execute(
                    f"INSERT INTO {TABLE_MODEL_PROFILE_OVERRIDES} (tenant_id, role, profile)"
                    " VALUES ($1, $2, $3) ON CONFLICT (tenant_id, role)"
                    " DO UPDATE SET profile = EXCLUDED.profile, updated_at = now()",
                    override.tenant_id,
                    override.role,
                    override.profile,
                    timeout=self._timeout_s,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise ValidationError(
                    "profile", f"no model profile named {override.profile!r}"
                ) from exc

    async def list_profiles(self) -> list[ModelProfile]:
        async with connection(self._pool, None, self._timeout_s, "list profiles") as conn:
            rows = await conn.fetch(
                "SELECT name, role, base_url, model, parameters, fallback, is_default,"
                f" api_key_env FROM {TABLE_MODEL_PROFILES} ORDER BY role, name",
                timeout=self._timeout_s,
            )
        return [
            ModelProfile(
                name=r["name"],
                role=r["role"],
                base_url=r["base_url"],
                model=r["model"],
                parameters=ModelParameters.model_validate(orjson.loads(r["parameters"])),
                fallback=tuple(r["fallback"]),
                is_default=r["is_default"],
                api_key_env=r["api_key_env"],
            )
            for r in rows
        ]

    async def list_overrides(self, tenant_id: str | None = None) -> list[ProfileOverride]:
        async with connection(self._pool, None, self._timeout_s, "list overrides") as conn:
            rows = await conn.fetch(
                f"SELECT tenant_id, role, profile FROM {TABLE_MODEL_PROFILE_OVERRIDES}"
                " WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY tenant_id, role",
                tenant_id,
                timeout=self._timeout_s,
            )
        return [
            ProfileOverride(tenant_id=r["tenant_id"], role=r["role"], profile=r["profile"])
            for r in rows
        ]
