"""The one way every process opens its PostgreSQL pool (schema on the search_path)."""

from __future__ import annotations

import asyncpg

from somaagent.domain.errors import BackendUnavailableError
from somaagent.settings import PostgresSettings


async def open_pool(pg: PostgresSettings) -> asyncpg.Pool:
    """A pool on `pg`, its schema first on the search_path; BackendUnavailableError if down."""
    server_settings = {} if pg.db_schema == "public" else {"search_path": f"{pg.db_schema},public"}
    try:
        pool = await asyncpg.create_pool(
            pg.dsn(),
            min_size=pg.pool_min,
            max_size=pg.pool_max,
            timeout=pg.command_timeout_s,
            command_timeout=pg.command_timeout_s,
            server_settings=server_settings,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackendUnavailableError(
            f"postgres unreachable at {pg.host}:{pg.port}: {exc}"
        ) from exc
    if pool is None:  # pragma: no cover - create_pool returns a pool or raises
        raise BackendUnavailableError(f"postgres at {pg.host}:{pg.port} gave no pool")
    return pool
