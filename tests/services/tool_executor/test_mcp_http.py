"""A streamable-HTTP MCP server on the platform road: the reference server
(@modelcontextprotocol/server-everything, `streamableHttp` mode, from tests/node) on a
loopback port, declared by URL with a header, next to the stdio time server; and a declared
server that is not up. Kafka tool.requests -> policy gate -> executor -> HTTP -> tool.results."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import yaml
from aiokafka import AIOKafkaConsumer

from adapters.mcp.conftest import EVERYTHING, installed, time_server
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.openfga.client import persona_ref, tool_ref
from somaagent.domain.event_types import TOOL_CALL_REQUESTED, make_event
from somaagent.domain.tools import ToolCall, ToolResult
from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings
from somaagent.settings import CommonSettings, repo_root

from .conftest import free_port
from .helpers import results_of
from .test_lease import executor
from .test_mcp_executor import _published, _run

log = logging.getLogger(__name__)


async def start_everything(port: int) -> asyncio.subprocess.Process:
    """server-everything over streamable HTTP on `port`, once it accepts connections."""
    proc = await asyncio.create_subprocess_exec(
        "/usr/bin/node", str(installed(EVERYTHING)), "streamableHttp",
        env={**os.environ, "PORT": str(port)}, stderr=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return proc
    proc.kill()
    raise AssertionError(f"server-everything did not listen on {port} within 30 s")


@pytest.fixture
async def http_server() -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """The server's URL and process (the node server listens on every interface)."""
    port = free_port()
    proc = await start_everything(port)
    yield f"http://127.0.0.1:{port}/mcp", proc
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


@pytest.fixture
def http_file(
    executor_settings: ToolExecutorSettings, http_server: tuple[str, asyncio.subprocess.Process]
) -> Iterator[ToolExecutorSettings]:
    """Servers: `everything` by URL with a header (a server name the policy data declares),
    `gone` by URL where nothing listens, and the stdio time server."""
    state = repo_root() / ".state" / "mcp-tests" / uuid.uuid4().hex[:8]
    state.mkdir(parents=True)
    time = time_server()
    servers = {
        "everything": {"url": http_server[0], "headers": {"X-Soma-Test": "streamable-http"}},
        "gone": {"url": f"http://127.0.0.1:{free_port()}/mcp", "call_timeout_s": 5},
        "time": time.model_dump(include={"command", "mounts"}, mode="json"),
    }
    path = state / "mcp_servers.yml"
    path.write_text(yaml.safe_dump({"servers": servers}))
    executor_settings.mcp.servers_file = path
    executor_settings.mcp.start_timeout_s = 5
    executor_settings.state_dir = state
    yield executor_settings
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
async def http_executor(
    http_file: ToolExecutorSettings, executor_topics: list[str]
) -> AsyncIterator[ToolExecutorService]:
    async with executor(http_file, executor_topics, f"tool-executor-{uuid.uuid4().hex[:8]}") as s:
        yield s


async def answer(
    settings: CommonSettings, topics: list[str], tenant: str, tool: str, message: str
) -> ToolResult:
    """One more call on a results topic that already holds others: its own result."""
    call = ToolCall(tool=tool, arguments={"message": message}, session_id="s-again",
                    tenant_id=tenant, correlation_id="turn-2", timeout_s=20)  # fmt: skip
    event = make_event(TOOL_CALL_REQUESTED, call, session_id="s-again", tenant_id=tenant,
                       correlation_id="turn-2")  # fmt: skip
    async with KafkaEventBus(settings.kafka) as bus:
        await bus.publish(topics[0], event)
    consumer = AIOKafkaConsumer(
        topics[1], bootstrap_servers=settings.kafka.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    if found := results_of(records).get(call.request_id):
                        return found[0]
    finally:
        await consumer.stop()


async def grant(settings: CommonSettings, tenant: str, *tools: str) -> None:
    async with OpenFgaClient(settings.openfga) as fga:
        await fga.write([(persona_ref(tenant, "default"), "user", tool_ref(tenant, t))
                         for t in tools])  # fmt: skip


async def test_http_server_tools_are_listed_and_answer_on_the_road(
    http_executor: ToolExecutorService, settings: CommonSettings, executor_topics: list[str]
) -> None:
    registry = http_executor.executor.registry  # type: ignore[union-attr]
    wanted = {"everything_echo", "everything_get_sum", "time_get_current_time"}
    assert wanted <= set(registry.names())
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await grant(settings, tenant, "everything_echo", "everything_get_sum")
    echo, total = await _run(
        settings, executor_topics, tenant,
        ("everything_echo", {"message": "over http"}), ("everything_get_sum", {"a": 2, "b": 40}),
    )  # fmt: skip
    assert (echo.status, echo.stdout) == ("ok", "Echo: over http"), echo.reason
    assert total.status == "ok", total.reason
    assert "42" in total.stdout


async def test_server_down_is_a_clear_error_and_others_keep_serving(
    http_executor: ToolExecutorService,
    http_server: tuple[str, asyncio.subprocess.Process],
    http_file: ToolExecutorSettings,
    settings: CommonSettings,
    executor_topics: list[str],
) -> None:
    store = await _published(http_file)  # what `soma mcp list` shows
    document = await store.read()
    await store.redis.aclose()
    assert document is not None
    gone = next(s for s in document["servers"] if s["name"] == "gone")
    assert gone["state"] != "ready" and gone["tools"] == [], gone
    assert "connect" in (gone["last_error"] or "").lower(), gone
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await grant(settings, tenant, "everything_echo", "time_get_current_time")
    http_server[1].kill()  # the HTTP server goes away after its tools were listed
    await http_server[1].wait()
    echo, now = await _run(
        settings, executor_topics, tenant,
        ("everything_echo", {"message": "anyone?"}), ("time_get_current_time", {"timezone": "UTC"}),
    )  # fmt: skip
    assert echo.status == "error", echo
    assert echo.reason is not None and "everything" in echo.reason, echo.reason
    log.warning("down server: %s after %.1f s", echo.reason, echo.duration_s)
    assert now.status == "ok", now.reason
    # back on the same port: the executor reconnects (a new MCP session), calls answer again
    port = http_server[0].rsplit(":", 1)[1].split("/")[0]
    again = await start_everything(int(port))
    try:
        for _ in range(20):
            echo = await answer(settings, executor_topics, tenant, "everything_echo", "back")
            if echo.status == "ok":
                break
            await asyncio.sleep(0.5)
        assert (echo.status, echo.stdout) == ("ok", "Echo: back"), echo.reason
    finally:
        again.kill()
        await again.wait()


async def test_server_restarted_between_calls_gets_a_new_session(
    http_executor: ToolExecutorService,
    http_server: tuple[str, asyncio.subprocess.Process],
    settings: CommonSettings,
    executor_topics: list[str],
) -> None:
    """The restarted server forgot the session (HTTP 404): one call fails saying so, the
    executor connects again and the next calls answer."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await grant(settings, tenant, "everything_echo")
    http_server[1].kill()
    await http_server[1].wait()
    again = await start_everything(int(http_server[0].rsplit(":", 1)[1].split("/")[0]))
    try:
        statuses = []
        for _ in range(10):
            echo = await answer(settings, executor_topics, tenant, "everything_echo", "new")
            statuses.append((echo.status, echo.reason))
            if echo.status == "ok":
                break
            await asyncio.sleep(0.5)
        log.warning("after a server restart: %s", statuses)
        assert (echo.status, echo.stdout) == ("ok", "Echo: new"), statuses
        assert len(statuses) <= 3, statuses
    finally:
        again.kill()
        await again.wait()
