"""The MCP client against real servers in the sandbox: time, git, the reference server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest

from somaagent.adapters.mcp import McpCallError

from .conftest import Managed, everything_server, git_server, time_server


async def test_time_server_answers_tokyo(managed: Managed) -> None:
    async with managed(time_server()) as manager:
        entry = manager.entry("time_get_current_time")
        assert entry is not None
        assert "timezone" in entry.input_schema["properties"]
        result = await manager.call(entry, {"timezone": "Asia/Tokyo"})
    assert not result.is_error
    assert result.structured_content["timezone"] == "Asia/Tokyo"
    assert result.structured_content["datetime"].endswith("+09:00")


async def test_git_server_reads_a_repository_the_test_made(
    managed: Managed, state_dir: Path
) -> None:
    repo = state_dir / "repo"
    await asyncio.to_thread(_make_repo, repo)
    async with managed(git_server(repo)) as manager:
        entry = manager.entry("git_git_log")
        assert entry is not None, [e.platform_name for e in manager.entries()]
        result = await manager.call(entry, {"repo_path": str(repo)})
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    assert "first note from the test" in text, text


async def test_kill_9_mid_call_is_an_error_and_the_next_call_succeeds(managed: Managed) -> None:
    async with managed(everything_server()) as manager:
        names = [e.platform_name for e in manager.entries()]
        slow = manager.entry("everything_trigger_long_running_operation")
        echo = manager.entry("everything_echo")
        assert slow is not None and echo is not None, names
        call = asyncio.create_task(manager.call(slow, {"duration": 10, "steps": 2}))
        await asyncio.sleep(1.0)
        server = manager.servers["everything"]
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        with pytest.raises(McpCallError) as failed:
            await asyncio.wait_for(call, 5)
        assert failed.value.status == "error"
        assert "signal 9" in failed.value.reason
        result = await manager.call(echo, {"message": "back again"})
    assert "back again" in result.content[0].text
    assert server.restarts == 1


async def test_everything_server_gives_an_image(managed: Managed) -> None:
    async with managed(everything_server()) as manager:
        entry = next((e for e in manager.entries() if "image" in e.platform_name), None)
        assert entry is not None, [e.platform_name for e in manager.entries()]
        result = await manager.call(entry, {})
    assert any(block.type == "image" for block in result.content)


def _make_repo(repo: Path) -> None:
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "notes.txt").write_text("hello\n")
    subprocess.run([*git, "add", "notes.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first note from the test"], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(repo)], check=True)
