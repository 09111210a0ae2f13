"""API keys, hashed at rest: each maps to one tenant, one role and a subject.

Keys are high-entropy random tokens (`soma_` + 32 random bytes, url-safe), so a plain
SHA-256 of the key is a safe lookup hash: there is nothing to brute-force. The key itself is
shown once, when it is created, and never stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Final, Literal, cast

import asyncpg

from somaagent.adapters.postgres.driver_errors import connection
from somaagent.domain.constants import TABLE_API_KEYS
from somaagent.domain.errors import ValidationError

Role = Literal["user", "admin"]
ROLES: Final = ("user", "admin")
KEY_PREFIX: Final = "soma_"
_SHOWN_PREFIX_LEN: Final = 12
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


@dataclass(frozen=True)
class ApiKey:
    """Who a key speaks for. `key_prefix` identifies the key in listings and logs."""

    key_prefix: str
    tenant_id: str
    role: Role
    subject: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _check_id(field: str, value: str) -> None:
    if not _ID.fullmatch(value):
        raise ValidationError(
            field, "1-128 characters: letters, digits and _.:@- (starting with a letter or digit)"
        )


class ApiKeyStore:
    """The `api_keys` table on an asyncpg pool (search_path chooses the schema)."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout_s = timeout_s

    async def create(self, tenant_id: str, role: str, subject: str) -> tuple[str, ApiKey]:
        """A new key for the tenant: returns (the key, shown only now; its record)."""
        _check_id("tenant", tenant_id)
        _check_id("subject", subject)
        if role not in ROLES:
            raise ValidationError("role", f"must be one of {', '.join(ROLES)}, not {role!r}")
        key = new_key()
        record = ApiKey(key[:_SHOWN_PREFIX_LEN], tenant_id, cast(Role, role), subject)
        async with connection(self._pool, None, self._timeout_s, "create api key") as conn:
            await conn.execute(
                f"INSERT INTO {TABLE_API_KEYS} (key_hash, key_prefix, tenant_id, role, subject)"
                " VALUES ($1, $2, $3, $4, $5)",
                hash_key(key),
                record.key_prefix,
                tenant_id,
                role,
                subject,
                timeout=self._timeout_s,
            )
        return key, record

    async def lookup(self, key: str) -> ApiKey | None:
        """The record of a live (not revoked) key, or None."""
        if not key.startswith(KEY_PREFIX) or len(key) > 256:
            return None
        async with connection(self._pool, None, self._timeout_s, "look up api key") as conn:
            row = await conn.fetchrow(
                f"SELECT key_prefix, tenant_id, role, subject FROM {TABLE_API_KEYS}"
                " WHERE key_hash = $1 AND revoked_at IS NULL",
                hash_key(key),
                timeout=self._timeout_s,
            )
        if row is None:
            return None
        return ApiKey(row["key_prefix"], row["tenant_id"], row["role"], row["subject"])

    async def revoke(self, key_prefix: str, *, tenant_id: str | None = None) -> int:
        """Revoke live keys with this prefix (of one tenant when given); returns how many."""
        async with connection(self._pool, None, self._timeout_s, "revoke api key") as conn:
            status = await conn.execute(
                f"UPDATE {TABLE_API_KEYS} SET revoked_at = now()"
                " WHERE key_prefix = $1 AND revoked_at IS NULL"
                " AND ($2::text IS NULL OR tenant_id = $2)",
                key_prefix,
                tenant_id,
                timeout=self._timeout_s,
            )
        return int(status.rsplit(" ", 1)[1])
