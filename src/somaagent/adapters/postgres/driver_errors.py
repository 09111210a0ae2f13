"""asyncpg and socket errors translated into the domain's BackendError tree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from somaagent.domain.errors import BackendError, BackendTimeoutError, BackendUnavailableError

#: A plain connection or one borrowed from a pool: both run queries and transactions.
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy


@asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    """Re-raise driver failures during `what` as retriable domain backend errors."""
    try:
        yield
    except TimeoutError as exc:
        raise BackendTimeoutError(f"postgres timed out: {what}") from exc
    except (OSError, asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError) as exc:
        raise BackendUnavailableError(f"postgres unreachable: {what}: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise BackendError(f"postgres failed: {what}: {exc}") from exc


@asynccontextmanager
async def connection(
    pool: asyncpg.Pool, given: Conn | None, timeout_s: float, what: str
) -> AsyncIterator[Conn]:
    """The caller's connection when given, else one from the pool (with a timeout)."""
    if given is not None:
        yield given
        return
    async with translated(what), pool.acquire(timeout=timeout_s) as conn:
        yield conn


@asynccontextmanager
async def transaction(pool: asyncpg.Pool, what: str) -> AsyncIterator[Conn]:
    """A pooled connection in a transaction; a server shutting down or unreachable while
    connecting or committing is a retriable BackendError, not an unexplained crash."""
    async with translated(what), pool.acquire() as conn, conn.transaction():
        yield conn
