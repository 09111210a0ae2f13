"""Driver failures around a pooled transaction become retriable BackendErrors (real server)."""

from __future__ import annotations

import socket

import asyncpg
import pytest

from somaagent.adapters.postgres.driver_errors import transaction
from somaagent.domain.errors import BackendError, BackendUnavailableError
from somaagent.settings import CommonSettings


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_server_that_cannot_be_reached_while_connecting_is_retriable(
    settings: CommonSettings,
) -> None:
    # the fault campaign's lost turns: the worker's transaction acquired a connection while
    # PostgreSQL was shutting down and the raw driver error dead-lettered the message
    dsn = settings.postgres.model_copy(update={"port": closed_port()}).dsn()
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=1)
    try:
        with pytest.raises(BackendUnavailableError) as raised:
            async with transaction(pool, "turn transaction"):
                pass
        assert raised.value.retriable and "turn transaction" in raised.value.message
    finally:
        await pool.close()


async def test_a_connection_the_server_terminates_mid_transaction_is_retriable(
    pg_pool: asyncpg.Pool,
) -> None:
    with pytest.raises(BackendError) as raised:
        async with transaction(pg_pool, "turn transaction") as conn:
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    assert raised.value.retriable
    async with transaction(pg_pool, "after") as conn:  # the pool hands out a fresh one
        assert await conn.fetchval("SELECT 1") == 1
