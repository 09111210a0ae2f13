"""The sessions table as the gateway reads it: tenant-scoped get and paged listing."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.adapters.postgres.sessions import PostgresSessions
from somaagent.domain.errors import NotFoundError, ValidationError
from somaagent.domain.event_types import SESSION_CREATED, SessionCreated, make_event


async def test_list_pages_a_tenants_sessions_most_recent_first(
    pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    store, sessions = PostgresEventStore(pg_pool), PostgresSessions(pg_pool)
    tenant, other = unique("t"), unique("t")
    made = []
    for i in range(5):
        sid = unique("s")
        event = make_event(
            SESSION_CREATED, SessionCreated(title=f"chat {i}"), session_id=sid, tenant_id=tenant
        )
        await store.append([event])
        made.append(sid)
    await store.append(
        [make_event(SESSION_CREATED, SessionCreated(), session_id=unique("s"), tenant_id=other)]
    )
    first = await sessions.list(tenant, limit=2)
    assert first.next_cursor is not None
    second = await sessions.list(tenant, limit=2, cursor=first.next_cursor)
    assert second.next_cursor is not None
    third = await sessions.list(tenant, limit=2, cursor=second.next_cursor)
    assert third.next_cursor is None
    listed = [s.session_id for p in (first, second, third) for s in p.sessions]
    assert listed == list(reversed(made))
    assert {s.tenant_id for p in (first, second, third) for s in p.sessions} == {tenant}
    row = await sessions.get(tenant, made[0])
    assert (row.title, row.last_seq, row.persona_id) == ("chat 0", 1, "default")


async def test_another_tenants_session_is_not_found(
    pg_pool: asyncpg.Pool, unique: Callable[[str], str]
) -> None:
    sid, tenant = unique("s"), unique("t")
    event = make_event(SESSION_CREATED, SessionCreated(), session_id=sid, tenant_id=tenant)
    await PostgresEventStore(pg_pool).append([event])
    with pytest.raises(NotFoundError):
        await PostgresSessions(pg_pool).get(unique("t"), sid)


async def test_bad_paging_input_names_the_field(pg_pool: asyncpg.Pool) -> None:
    sessions = PostgresSessions(pg_pool)
    with pytest.raises(ValidationError) as err:
        await sessions.list("t", cursor="not-a-cursor")
    assert err.value.field == "cursor"
    with pytest.raises(ValidationError) as err:
        await sessions.list("t", limit=0)
    assert err.value.field == "limit"
