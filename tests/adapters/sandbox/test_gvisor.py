"""The gVisor backend runs real code under `runsc run` with an OCI bundle."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from somaagent.adapters.sandbox.gvisor import GvisorSandbox
from somaagent.domain.tools import SandboxLimits, SandboxResult, SandboxSpec
from somaagent.settings import repo_root
from somaagent.tools.workspace import Workspaces


@pytest.fixture(scope="module")
def sandbox() -> Iterator[GvisorSandbox]:
    base = Path(tempfile.mkdtemp(prefix="soma-gvisor-"))
    yield GvisorSandbox(base)
    shutil.rmtree(base)


@pytest.fixture
def workdir(unique: Callable[[str], str]) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="soma-ws-"))
    yield Workspaces(root).ensure("t", unique("s"))
    shutil.rmtree(root)


async def run_py(
    sandbox: GvisorSandbox, workdir: Path, code: str, **limits: float
) -> SandboxResult:
    spec = SandboxSpec(
        argv=["python3", "-I", "-c", code],
        workdir=str(workdir),
        limits=SandboxLimits(**{"wall_timeout_s": 20.0, **limits}),
    )
    return await sandbox.run(spec)


async def test_success_and_files(sandbox: GvisorSandbox, workdir: Path) -> None:
    code = (
        "import os; open('f.txt', 'w').write('g'); print(os.getuid(), sorted(os.listdir('/work')))"
    )
    result = await run_py(sandbox, workdir, code)
    assert (result.status, result.stdout) == ("ok", "65534 ['f.txt']\n")
    assert (workdir / "f.txt").read_text() == "g"


async def test_nonzero_exit_keeps_stderr(sandbox: GvisorSandbox, workdir: Path) -> None:
    result = await run_py(sandbox, workdir, "import sys; sys.exit('bad')")
    assert (result.status, result.exit_code, result.stderr) == ("error", 1, "bad\n")


async def test_timeout(sandbox: GvisorSandbox, workdir: Path) -> None:
    result = await run_py(sandbox, workdir, "import time; time.sleep(60)", wall_timeout_s=2)
    assert result.status == "timeout"
    assert result.duration_s < 15


async def test_host_files_are_hidden(sandbox: GvisorSandbox, workdir: Path) -> None:
    code = (
        "import os\n"
        f"for p in ('/etc/shadow', {str(repo_root() / 'pyproject.toml')!r}, '/root'):\n"
        "    print(p.rsplit('/', 1)[-1], os.path.exists(p))"
    )
    result = await run_py(sandbox, workdir, code)
    assert result.stdout == "shadow False\npyproject.toml False\nroot False\n"


async def test_no_network(sandbox: GvisorSandbox, workdir: Path) -> None:
    code = (
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 15432), timeout=2)\n"
        "    print('connected')\nexcept OSError as e:\n    print(type(e).__name__)"
    )
    result = await run_py(sandbox, workdir, code)
    assert result.status == "ok"
    assert result.stdout in {"ConnectionRefusedError\n", "OSError\n"}
