"""Real MCP servers, started inside the sandbox by the client under test.

The servers come from the project's own install (scripts/mcp_servers.sh: .state/mcp-venv and
tests/node); a missing install fails the tests with the command that fixes it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from somaagent.adapters.mcp import McpManager, McpServerConfig, McpSettings
from somaagent.settings import repo_root

VENV = repo_root() / ".state" / "mcp-venv"
PROBE = Path(__file__).with_name("probe_server.py")
EVERYTHING = (
    repo_root() / "tests/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
)


def installed(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/mcp_servers.sh and make node-deps")
    return path


def time_server() -> McpServerConfig:
    command = [str(installed(VENV / "bin/mcp-server-time")), "--local-timezone", "UTC"]
    return McpServerConfig(name="time", command=command, mounts=[VENV])


def git_server(repo: Path) -> McpServerConfig:
    command = [str(installed(VENV / "bin/mcp-server-git")), "--repository", str(repo)]
    return McpServerConfig(name="git", command=command, mounts=[VENV, repo])


def probe_server(*args: str, name: str = "probe") -> McpServerConfig:
    command = [str(installed(VENV / "bin/python")), str(PROBE), *args]
    return McpServerConfig(name=name, command=command, mounts=[VENV, PROBE])


def everything_server() -> McpServerConfig:
    node_modules = repo_root() / "tests/node/node_modules"
    command = ["/usr/bin/node", str(installed(EVERYTHING)), "stdio"]
    return McpServerConfig(name="everything", command=command, mounts=[node_modules])


Managed = Callable[..., AbstractAsyncContextManager[McpManager]]


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state dir the sandbox (nobody) can reach; pytest's tmp_path is root-only (0700)."""
    path = repo_root() / ".state" / "mcp-tests" / uuid.uuid4().hex[:8]
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def managed(state_dir: Path) -> Managed:
    """`async with managed(server, ..., **settings) as manager:` started servers, closed after."""

    @asynccontextmanager
    async def start(*servers: McpServerConfig, **overrides: object) -> AsyncIterator[McpManager]:
        settings = McpSettings.model_validate({"call_timeout_s": 10.0, **overrides})
        async with McpManager(servers, settings, state_dir) as manager:
            yield manager

    return start
