"""The gateway's `/mcp` with the MCP SDK's own client, on the real platform.

A gateway, a conversation worker and a tool executor run in-process on fresh topics and this
run's schema, over the shared Kafka, PostgreSQL, Redis, OPA and model servers. The official
`mcp` client (streamable HTTP) lists the tool and runs turns; what it was answered is checked
against the turns in the event store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent

from services.gateway.conftest import RunningGateway
from services.gateway.test_openai_clients import (
    messages_received,
    new_user,
    small_model_user,
    stored_turns,
)
from services.platform import running_platform
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.settings import CommonSettings

Connect = Callable[[str], AbstractAsyncContextManager[ClientSession]]


@pytest.fixture(scope="module")
async def platform(
    settings: CommonSettings, migrated: str, policy_url: str, seeded_profiles: None
) -> AsyncIterator[RunningGateway]:
    """A gateway with a conversation worker and a tool executor behind it."""
    async with running_platform(settings, policy_url, name="mcp", answer_max_tokens=32) as gw:
        yield gw


@pytest.fixture
def connect(platform: RunningGateway) -> Connect:
    """An initialized MCP client session of the gateway's /mcp with a platform key."""

    @asynccontextmanager
    async def session(key: str) -> AsyncIterator[ClientSession]:
        headers = {"Authorization": f"Bearer {key}"}
        timeout = httpx2.Timeout(30, read=240)
        async with (
            httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
            streamable_http_client(f"{platform.base_url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            yield client

    return session


async def run_turn(client: ClientSession, **arguments: Any) -> CallToolResult:
    result = await client.call_tool("run_turn", arguments)
    assert isinstance(result, CallToolResult)
    return result


def text_of(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


async def test_the_tool_is_listed_and_a_turn_is_answered_and_continued(
    connect: Connect, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    user = await small_model_user(keys, pg_pool)
    async with connect(user.key) as client:
        (tool,) = (await client.list_tools()).tools
        assert tool.name == "run_turn"
        assert tool.input_schema["required"] == ["text"]
        assert {"text", "persona", "session_id"} <= set(tool.input_schema["properties"])
        assert tool.output_schema is not None
        assert {"reply", "tool_cards", "session_id"} <= set(tool.output_schema["properties"])

        first = await run_turn(client, text="Name one colour.")
        assert not first.is_error, text_of(first)
        answer = first.structured_content
        assert answer is not None and answer["persona"] == "default"
        sid = answer["session_id"]
        (stored,) = await stored_turns(pg_pool, sid)
        assert stored["correlation_id"] == answer["turn_id"]
        assert answer["reply"] == stored["assistant_message"] == text_of(first)
        assert answer["reply"].strip() and answer["tool_cards"] == []
        assert answer["usage"]["completion_tokens"] == stored["usage"]["completion_tokens"]

        second = await run_turn(client, text="Name another one.", session_id=sid)
        assert not second.is_error, text_of(second)
        assert second.structured_content is not None
        assert second.structured_content["session_id"] == sid
    turns = await stored_turns(pg_pool, sid)
    assert [t["user_message"] for t in turns] == ["Name one colour.", "Name another one."]
    assert second.structured_content["reply"] == turns[1]["assistant_message"]


async def test_a_tool_call_comes_back_as_a_card(
    connect: Connect, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    user = await new_user(keys, "mcptool")
    async with connect(user.key) as client:
        result = await run_turn(client, text="use python to compute 17*23")
    assert not result.is_error, text_of(result)
    answer = result.structured_content
    assert answer is not None
    (card,) = answer["tool_cards"]
    assert (card["tool"], card["status"], card["output"]) == ("code_execution", "ok", "391")
    assert card["duration_s"] > 0 and "17" in card["arguments"]
    (stored,) = await stored_turns(pg_pool, answer["session_id"])
    assert [r["request_id"] for r in stored["tool_results"]] == [card["request_id"]]
    assert text_of(result).startswith("> tool code_execution (ok,")


async def test_another_tenant_cannot_continue_a_session(
    connect: Connect, keys: ApiKeyStore, pg_pool: asyncpg.Pool
) -> None:
    owner = await small_model_user(keys, pg_pool)
    async with connect(owner.key) as client:
        first = await run_turn(client, text="Say hi.")
    assert first.structured_content is not None, text_of(first)
    sid = first.structured_content["session_id"]
    stranger = await small_model_user(keys, pg_pool)
    async with connect(stranger.key) as client:
        refused = await run_turn(client, text="What did I say?", session_id=sid)
        unknown = await run_turn(client, text="Hi.", persona="nobody")
    assert refused.is_error and "session_not_found" in text_of(refused)
    assert refused.structured_content is None
    assert unknown.is_error and "unknown persona 'nobody'" in text_of(unknown)
    assert await messages_received(pg_pool, sid) == 1


async def test_mcp_needs_a_valid_key(platform: RunningGateway, connect: Connect) -> None:
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=30) as http:
        bare = await http.post("/mcp", json=hello, headers=accept)
        wrong = await http.post(
            "/mcp", json=hello, headers={**accept, "Authorization": "Bearer soma_wrong"}
        )
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "unauthorized"
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.json()["error"]["message"]
    with pytest.raises(ExceptionGroup) as refused:  # the SDK's client: no session at all
        async with connect("soma_wrong"):
            pass
    assert refused.group_contains(MCPError, match="error response", depth=2)
