"""Sandbox walls and bad servers: each gives a clear status and reason, nothing hangs."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from somaagent.adapters.mcp import McpCallError, McpSettings
from somaagent.adapters.mcp.sandbox import start_server
from somaagent.settings import repo_root

from .conftest import Managed, probe_server

POSTGRES_PORT = 15432


def _text(result: object) -> str:
    return "\n".join(getattr(block, "text", "") for block in getattr(result, "content", []))


async def test_sandboxed_server_cannot_reach_a_platform_port_nor_project_files(
    managed: Managed,
) -> None:
    with socket.create_connection(("127.0.0.1", POSTGRES_PORT), timeout=2):
        pass  # the port is open on the host: the refusal below is the sandbox's doing
    project_file = repo_root() / "pyproject.toml"
    assert project_file.read_text()
    async with managed(probe_server()) as manager:
        connect, read = manager.entry("probe_connect"), manager.entry("probe_read_file")
        assert connect is not None and read is not None
        net = await manager.call(connect, {"host": "127.0.0.1", "port": POSTGRES_PORT})
        files = await manager.call(read, {"path": str(project_file)})
        own = await manager.call(read, {"path": "/etc/passwd"})
    assert _text(net).startswith("failed"), _text(net)
    assert _text(files).startswith("failed"), _text(files)
    assert "nobody" in _text(own)  # the sandbox's own minimal /etc/passwd is readable


async def test_timeout_gives_status_timeout_and_other_calls_go_on(managed: Managed) -> None:
    async with managed(probe_server()) as manager:
        sleep, echo = manager.entry("probe_sleep"), manager.entry("probe_echo")
        assert sleep is not None and echo is not None
        started = time.monotonic()
        slow = asyncio.create_task(manager.call(sleep, {"seconds": 30}, timeout_s=1.0))
        quick = await manager.call(echo, {"text": "still here"})
        with pytest.raises(McpCallError) as failed:
            await slow
        elapsed = time.monotonic() - started
    assert _text(quick) == "still here"
    assert failed.value.status == "timeout"
    assert "within 1 s" in failed.value.reason
    assert elapsed < 5


async def test_malformed_json_rpc_fails_the_call_and_the_server_restarts(
    managed: Managed,
) -> None:
    async with managed(probe_server()) as manager:
        bad, echo = manager.entry("probe_malformed"), manager.entry("probe_echo")
        assert bad is not None and echo is not None
        with pytest.raises(McpCallError) as failed:
            await asyncio.wait_for(manager.call(bad, {}), 10)
        after = await manager.call(echo, {"text": "recovered"})
    assert failed.value.status == "error"
    assert "malformed JSON-RPC" in failed.value.reason
    assert _text(after) == "recovered"


async def test_a_message_over_the_limit_fails_the_call_with_that_reason(
    managed: Managed,
) -> None:
    async with managed(probe_server(), max_message_bytes=64 * 1024) as manager:
        big, echo = manager.entry("probe_big"), manager.entry("probe_echo")
        assert big is not None and echo is not None
        small = await manager.call(big, {"size": 1000})
        with pytest.raises(McpCallError) as failed:
            await asyncio.wait_for(manager.call(big, {"size": 200_000}), 10)
        after = await manager.call(echo, {"text": "ok"})
    assert len(_text(small)) == 1000
    assert "over the 65536-byte limit" in failed.value.reason
    assert _text(after) == "ok"


async def test_thousands_of_tools_are_capped_and_colliding_names_left_out(
    managed: Managed,
) -> None:
    async with managed(probe_server("--many"), max_tools=4096) as manager:
        names = {e.platform_name for e in manager.entries()}
        ((_, problems),) = manager.statuses()
        echo = manager.entry("probe_tool_2999")
        assert echo is not None
        answer = await manager.call(echo, {"text": "last of many"})
    assert len(names) == 3006  # 3000 + the six probe tools; both twins left out
    assert "probe_echo_twin" not in names
    assert sum("collides" in p for p in problems) == 2, problems
    assert _text(answer) == "last of many"


async def test_tool_count_over_the_cap_offers_the_first_ones(managed: Managed) -> None:
    async with managed(probe_server("--many"), max_tools=100) as manager:
        names = {e.platform_name for e in manager.entries()}
        ((_, problems),) = manager.statuses()
    assert len(names) == 100
    assert any("only the first 100" in p for p in problems), problems


async def test_a_server_that_cannot_start_is_reported_and_others_serve(
    managed: Managed,
) -> None:
    broken = probe_server(name="broken").model_copy(update={"command": ["/nonexistent/server"]})
    async with managed(broken, probe_server(), start_timeout_s=5.0) as manager:
        echo = manager.entry("probe_echo")
        assert echo is not None
        answer = await manager.call(echo, {"text": "fine"})
        status = {s.name: s for s, _ in manager.statuses()}
    assert _text(answer) == "fine"
    assert status["broken"].state in {"starting", "restarting"}
    assert "No such file" in (status["broken"].last_error or "")


async def test_stopping_a_server_with_unread_output_reaps_it_and_closes_its_pipes(
    state_dir: Path,
) -> None:
    # a server that floods both pipes past what asyncio buffers before it stops reading
    flood = "import sys, time; sys.stdout.write('x' * 2**20); sys.stdout.flush(); " + (
        "sys.stderr.write('y' * 2**20); sys.stderr.flush(); time.sleep(60)"
    )
    config = probe_server().model_copy(update={"command": [probe_server().command[0], "-c", flood]})
    settings = McpSettings(max_message_bytes=64 * 1024)
    proc = await start_server(config, state_dir / "flood", settings)
    assert proc.process.stdout is not None and proc.process.stderr is not None
    await proc.process.stdout.readexactly(1024)  # it runs and writes; the rest stays unread
    started = time.monotonic()
    await proc.stop()
    assert time.monotonic() - started < 4  # not the 5 s give-up of a wait that never ends
    assert proc.process.returncode is not None
    assert proc.process.stdout.at_eof() and proc.process.stderr.at_eof()
