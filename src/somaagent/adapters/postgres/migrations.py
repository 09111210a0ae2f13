"""Plain-SQL migrations: `migrations/NNN_name.sql`, applied in order, each once.

Each file runs in its own transaction under an advisory lock, so two processes running
`soma db upgrade` at once apply every file exactly once. A schema other than `public`
(tests use one per run) is created and put first on the search_path.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from somaagent.domain.constants import TABLE_SCHEMA_MIGRATIONS
from somaagent.domain.errors import BackendUnavailableError, ValidationError

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x50_4D_41  # "SMA": the advisory lock that serialises upgrades


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValidationError(str(path), "migration files are named NNN_lower_snake.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValidationError(str(directory), "two migration files share a version number")
    return found


def quote_ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValidationError("schema", f"{name!r} is not a plain lower-case identifier")
    return f'"{name}"'


async def upgrade(dsn: str, directory: Path, schema: str = "public") -> list[str]:
    """Apply pending migrations; return the names applied."""
    migrations = load_migrations(directory)
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackendUnavailableError(f"postgres unreachable for migrations: {exc}") from exc
    applied: list[str] = []
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        await conn.execute(f"SET search_path TO {quote_ident(schema)}, public")
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE_SCHEMA_MIGRATIONS} ("
                " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                r["version"]: r["checksum"]
                for r in await conn.fetch(
                    f"SELECT version, checksum FROM {TABLE_SCHEMA_MIGRATIONS}"
                )
            }
            for mig in migrations:
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise ValidationError(
                            mig.name,
                            "was changed after it was applied; add a new migration instead",
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(mig.sql)
                    await conn.execute(
                        f"INSERT INTO {TABLE_SCHEMA_MIGRATIONS} (version, name, checksum)"
                        " VALUES ($1, $2, $3)",
                        mig.version,
                        mig.name,
                        mig.checksum,
                    )
                applied.append(mig.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
    return applied


async def current(dsn: str, schema: str = "public") -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f"SET search_path TO {quote_ident(schema)}, public")
        exists = await conn.fetchval("SELECT to_regclass($1)", TABLE_SCHEMA_MIGRATIONS)
        if exists is None:
            return []
        rows = await conn.fetch(
            f"SELECT version, name FROM {TABLE_SCHEMA_MIGRATIONS} ORDER BY version"
        )
        return [(r["version"], r["name"]) for r in rows]
    finally:
        await conn.close()
