"""The whole path through the public API: a real gateway, worker and tool executor (the web
client's fixtures) on fresh topics, the stack's servers and models."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from services.gateway.conftest import RunningGateway
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.domain.event_types import TURN_COMPLETED
from somaagent.services.conversation_worker import WorkerSettings
from web.conftest import web_gateway, web_tools, web_worker

__all__ = ["web_gateway", "web_tools", "web_worker"]  # the web client's platform fixtures


@dataclass
class User:
    tenant_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
async def api(
    web_gateway: RunningGateway, web_tools: WorkerSettings
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway, with the worker and the tool executor running behind it."""
    async with httpx.AsyncClient(base_url=web_gateway.base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def user(pg_pool: asyncpg.Pool) -> User:
    tenant = f"e2e-{uuid.uuid4().hex[:10]}"
    key, _ = await ApiKeyStore(pg_pool).create(tenant, "user", "erin")
    return User(tenant, key)


async def new_session(api: httpx.AsyncClient, who: User) -> str:
    r = await api.post("/v1/sessions", json={}, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["session_id"])


async def history(api: httpx.AsyncClient, who: User, sid: str) -> list[dict[str, Any]]:
    r = await api.get(f"/v1/sessions/{sid}/events", params={"limit": 500}, headers=who.headers)
    assert r.status_code == 200, r.text
    return [e["event"] for e in r.json()["events"]]


async def finished_turn(
    api: httpx.AsyncClient, who: User, sid: str, correlation: str, timeout_s: float = 120.0
) -> dict[str, Any]:
    """The turn.completed payload of `correlation` once it is in the history (either status)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in await history(api, who, sid):
            if event["type"] == TURN_COMPLETED and event["correlation_id"] == correlation:
                return dict(event["payload"])
        await asyncio.sleep(0.25)
    raise AssertionError(f"turn {correlation} of {sid} is not in the history")
