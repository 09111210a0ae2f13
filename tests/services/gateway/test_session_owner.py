"""Sessions belong to their creator: within one tenant, a `user` key reaches only its own
sessions (another user's answer 404, as an unknown id does); a tenant admin reaches all.

Real gateway, PostgreSQL and OpenFGA: alice (user key), bob (a second user key of the same
tenant) and root (an admin in OpenFGA).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from services.gateway.conftest import RunningGateway, Tenant
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.postgres.event_store import PostgresEventStore
from somaagent.domain.event_types import SESSION_CREATED, SessionCreated, make_event

CLOSE_NOT_FOUND = 4404


@dataclass
class People:
    alice: dict[str, str]
    bob: dict[str, str]
    root: dict[str, str]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def people(tenant: Tenant, keys: ApiKeyStore) -> People:
    bob, _ = await keys.create(tenant.tenant_id, "user", "bob")
    return People(bearer(tenant.key), bearer(bob), tenant.headers(admin=True))


async def create(http: httpx.AsyncClient, headers: dict[str, str], title: str) -> str:
    r = await http.post("/v1/sessions", json={"title": title}, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


async def listed(http: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    r = await http.get("/v1/sessions", params={"limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return {s["session_id"] for s in r.json()["sessions"]}


async def reach(http: httpx.AsyncClient, headers: dict[str, str], sid: str) -> list[int]:
    """Status codes of: read, events, post a message, upload a file, for one session."""
    base = f"/v1/sessions/{sid}"
    return [
        (await http.get(base, headers=headers)).status_code,
        (await http.get(f"{base}/events", headers=headers)).status_code,
        (await http.post(f"{base}/messages", json={"text": "hi"}, headers=headers)).status_code,
        (
            await http.post(
                f"{base}/attachments",
                params={"name": "n.txt"},
                content=b"note",
                headers={**headers, "content-type": "text/plain"},
            )
        ).status_code,
    ]


async def stream_close_code(gateway: RunningGateway, key_headers: dict[str, str], sid: str) -> int:
    """1000 when the stream opened (ready), else the close code the gateway sent."""
    key = key_headers["Authorization"].removeprefix("Bearer ")
    async with connect(f"{gateway.ws_url}/v1/sessions/{sid}/stream") as ws:
        await ws.send(orjson.dumps({"type": "auth", "key": key}).decode())
        try:
            frame = orjson.loads(await ws.recv())
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
        assert frame["type"] == "ready"
        return 1000


async def test_a_new_session_names_its_owner(http: httpx.AsyncClient, people: People) -> None:
    r = await http.post("/v1/sessions", json={}, headers=people.alice)
    assert (r.status_code, r.json()["owner"]) == (201, "alice")


async def test_a_user_lists_only_own_sessions_and_an_admin_lists_all(
    http: httpx.AsyncClient, people: People
) -> None:
    mine = await create(http, people.alice, "alice's")
    theirs = await create(http, people.bob, "bob's")
    admins = await create(http, people.root, "root's")
    assert mine in await listed(http, people.alice)
    assert not {theirs, admins} & await listed(http, people.alice)
    assert {mine, theirs, admins} <= await listed(http, people.root)


async def test_a_user_cannot_read_post_to_or_upload_into_another_users_session(
    http: httpx.AsyncClient, people: People
) -> None:
    bobs = await create(http, people.bob, "bob's")
    assert await reach(http, people.alice, bobs) == [404, 404, 404, 404]
    assert await reach(http, people.bob, bobs) == [200, 200, 202, 201]


async def test_a_user_cannot_read_an_admins_session_but_the_admin_reads_a_users(
    http: httpx.AsyncClient, people: People
) -> None:
    admins = await create(http, people.root, "root's")
    alices = await create(http, people.alice, "alice's")
    assert await reach(http, people.alice, admins) == [404, 404, 404, 404]
    assert await reach(http, people.root, alices) == [200, 200, 202, 201]


async def test_a_user_cannot_stream_another_users_session(
    gateway: RunningGateway, http: httpx.AsyncClient, people: People
) -> None:
    bobs = await create(http, people.bob, "bob's")
    assert await stream_close_code(gateway, people.alice, bobs) == CLOSE_NOT_FOUND
    assert await stream_close_code(gateway, people.bob, bobs) == 1000
    assert await stream_close_code(gateway, people.root, bobs) == 1000


async def test_a_session_without_an_owner_is_for_admins_only(
    http: httpx.AsyncClient, tenant: Tenant, people: People, pg_pool: asyncpg.Pool
) -> None:
    """What a session from before migration 062 (or appended past the gateway) is."""
    sid = f"s-{uuid.uuid4().hex[:12]}"
    created = make_event(
        SESSION_CREATED, SessionCreated(title="old"), session_id=sid, tenant_id=tenant.tenant_id
    )
    await PostgresEventStore(pg_pool).append([created], expected_version=0)
    assert (await http.get(f"/v1/sessions/{sid}", headers=people.alice)).status_code == 404
    r = await http.get(f"/v1/sessions/{sid}", headers=people.root)
    assert (r.status_code, r.json()["owner"]) == (200, None)
    assert sid not in await listed(http, people.alice)


async def share(http: httpx.AsyncClient, headers: dict[str, str], sid: str, on: bool) -> int:
    r = await http.patch(f"/v1/sessions/{sid}", json={"shared": on}, headers=headers)
    return r.status_code


async def test_a_shared_session_is_readable_by_the_tenants_users_but_not_writable(
    gateway: RunningGateway, http: httpx.AsyncClient, people: People
) -> None:
    alices = await create(http, people.alice, "alice's")
    assert await share(http, people.bob, alices, True) == 404  # bob cannot see it yet
    assert await share(http, people.alice, alices, True) == 200
    assert alices in await listed(http, people.bob)
    # read, events: yes; post a message, upload a file: no
    assert await reach(http, people.bob, alices) == [200, 200, 404, 404]
    assert await stream_close_code(gateway, people.bob, alices) == 1000
    assert await share(http, people.bob, alices, False) == 403  # only its owner or an admin
    assert await share(http, people.root, alices, False) == 200
    assert alices not in await listed(http, people.bob)
    assert await reach(http, people.bob, alices) == [404, 404, 404, 404]
