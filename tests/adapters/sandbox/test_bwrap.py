"""The bubblewrap sandbox runs real code: results, limits and an escape campaign.

Every test starts a real bwrap sandbox with the real seccomp filter and cgroups. An escape
attempt passes only when it is contained *and* reported with a clear status.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from somaagent.adapters.sandbox import BwrapSandbox
from somaagent.domain.tools import SandboxLimits, SandboxResult, SandboxSpec
from somaagent.settings import repo_root
from somaagent.tools.workspace import Workspaces


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    return BwrapSandbox()


@pytest.fixture
def workdir(unique: Callable[[str], str]) -> Iterator[Path]:
    """A fresh session workspace, laid out and owned exactly as the executor does it."""
    root = Path(tempfile.mkdtemp(prefix="soma-ws-"))
    yield Workspaces(root).ensure("t", unique("s"))
    shutil.rmtree(root)


async def run_py(sandbox: BwrapSandbox, workdir: Path, code: str, **limits: float) -> SandboxResult:
    spec = SandboxSpec(
        argv=["python3", "-I", "-c", code],
        workdir=str(workdir),
        limits=SandboxLimits(**{"wall_timeout_s": 10.0, **limits}),
    )
    return await sandbox.run(spec)


async def test_success_returns_stdout_and_exit_zero(sandbox: BwrapSandbox, workdir: Path) -> None:
    result = await run_py(sandbox, workdir, "import os; print('hi', os.getuid(), os.getgid())")
    assert (result.status, result.exit_code, result.stdout) == ("ok", 0, "hi 65534 65534\n")


async def test_nonzero_exit_keeps_stderr(sandbox: BwrapSandbox, workdir: Path) -> None:
    result = await run_py(sandbox, workdir, "import sys; sys.exit('boom')")
    assert (result.status, result.exit_code) == ("error", 1)
    assert "boom" in result.stderr


async def test_wall_clock_timeout_kills_the_tree(sandbox: BwrapSandbox, workdir: Path) -> None:
    code = "import os, time\nos.fork()\ntime.sleep(60)"
    result = await run_py(sandbox, workdir, code, wall_timeout_s=1.0)
    assert result.status == "timeout"
    assert result.killed == "timeout"
    assert result.duration_s < 10


async def test_written_file_lands_in_the_work_dir(sandbox: BwrapSandbox, workdir: Path) -> None:
    result = await run_py(sandbox, workdir, "open('out.txt', 'w').write('data')")
    assert result.status == "ok"
    assert (workdir / "out.txt").read_text() == "data"


# --- escape campaign -------------------------------------------------------------------


async def test_cannot_read_etc_shadow(sandbox: BwrapSandbox, workdir: Path) -> None:
    result = await run_py(sandbox, workdir, "print(open('/etc/shadow').read())")
    assert result.status == "error"
    assert "FileNotFoundError" in result.stderr


async def test_cannot_see_project_directory(sandbox: BwrapSandbox, workdir: Path) -> None:
    target = repo_root() / "pyproject.toml"
    assert target.exists()
    result = await run_py(sandbox, workdir, f"print(open({str(target)!r}).read())")
    assert result.status == "error"
    assert "FileNotFoundError" in result.stderr


async def test_cannot_see_another_workspace(sandbox: BwrapSandbox, workdir: Path) -> None:
    spaces = Workspaces(workdir.parent.parent)
    mine, theirs = spaces.ensure("t", "mine"), spaces.ensure("t", "theirs")
    (theirs / "secret.txt").write_text("other session")
    code = (
        f"import os; print(os.listdir('/work')); print(open({str(theirs / 'secret.txt')!r}).read())"
    )
    result = await run_py(sandbox, mine, code)
    assert result.status == "error"
    assert result.stdout == "[]\n"
    assert "FileNotFoundError" in result.stderr


@pytest.mark.parametrize("port", [19092, 15432, 16379])
async def test_cannot_reach_host_services(sandbox: BwrapSandbox, workdir: Path, port: int) -> None:
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
    result = await run_py(sandbox, workdir, code)
    assert result.status == "error"
    assert "ConnectionRefusedError" in result.stderr or "Network is unreachable" in result.stderr


async def test_cannot_resolve_hostnames(sandbox: BwrapSandbox, workdir: Path) -> None:
    result = await run_py(sandbox, workdir, "import socket; socket.gethostbyname('python.org')")
    assert result.status == "error"
    assert "gaierror" in result.stderr


async def test_fork_bomb_hits_the_pids_cgroup(sandbox: BwrapSandbox, workdir: Path) -> None:
    spec = SandboxSpec(
        argv=["bash", "-c", "bomb() { bomb | bomb & }; bomb; sleep 3"],
        workdir=str(workdir),
        limits=SandboxLimits(wall_timeout_s=5, max_pids=32),
    )
    result = await sandbox.run(spec)
    assert result.killed in {"pids", "timeout"}
    assert result.status in {"killed", "timeout"}


async def test_memory_bomb_is_killed_by_the_memory_cgroup(
    sandbox: BwrapSandbox, workdir: Path
) -> None:
    code = "x = []\nwhile True: x.append(bytearray(32 * 1024 * 1024))"
    result = await run_py(sandbox, workdir, code, memory_bytes=128 * 1024 * 1024)
    assert result.status == "killed"
    assert result.killed == "memory"


async def test_cpu_spin_hits_the_cpu_rlimit(sandbox: BwrapSandbox, workdir: Path) -> None:
    result = await run_py(sandbox, workdir, "while True: pass", cpu_seconds=1)
    assert result.status == "killed"
    assert result.killed == "cpu"


async def test_disk_fill_hits_the_file_size_limit(sandbox: BwrapSandbox, workdir: Path) -> None:
    code = "f = open('big', 'wb')\nwhile True: f.write(b'x' * 1048576)"
    result = await run_py(sandbox, workdir, code, file_size_bytes=4 * 1024 * 1024)
    # Python ignores SIGXFSZ, so the write fails with EFBIG and the program exits non-zero.
    assert result.status == "error"
    assert "File too large" in result.stderr
    assert (workdir / "big").stat().st_size <= 4 * 1024 * 1024


async def test_many_files_over_quota_are_cleared(sandbox: BwrapSandbox, workdir: Path) -> None:
    code = "for i in range(8): open(f'f{i}', 'wb').write(b'x' * 1048576)"
    result = await run_py(sandbox, workdir, code, workspace_quota_bytes=4 * 1024 * 1024)
    assert result.killed == "disk_quota"
    assert await asyncio.to_thread(lambda: list(workdir.iterdir())) == []


async def test_100mb_of_stdout_is_truncated(sandbox: BwrapSandbox, workdir: Path) -> None:
    code = "import sys\nfor _ in range(100): sys.stdout.write('y' * 1048576)"
    result = await run_py(sandbox, workdir, code, max_output_bytes=64 * 1024)
    assert result.status == "ok"
    assert result.truncated is True
    assert len(result.stdout) == 64 * 1024


async def test_setuid_binaries_give_no_privilege(sandbox: BwrapSandbox, workdir: Path) -> None:
    spec = SandboxSpec(
        argv=["bash", "-c", "mount -t tmpfs none /tmp; echo mount=$?; su -c id root; echo su=$?"],
        workdir=str(workdir),
        limits=SandboxLimits(wall_timeout_s=10),
    )
    result = await sandbox.run(spec)
    assert "mount=0" not in result.stdout
    assert "su=0" not in result.stdout
    assert "uid=0" not in result.stdout


async def test_cannot_ptrace_the_executor(sandbox: BwrapSandbox, workdir: Path) -> None:
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"rc = libc.ptrace(16, {os.getpid()}, 0, 0)\n"
        "print(rc, ctypes.get_errno())\n"
        "rc1 = libc.ptrace(16, 1, 0, 0)\nprint(rc1, ctypes.get_errno())"
    )
    result = await run_py(sandbox, workdir, code)
    assert result.status == "ok"
    assert result.stdout == "-1 1\n-1 1\n"  # EPERM from the seccomp filter, both targets


async def test_cannot_write_proc_sys(sandbox: BwrapSandbox, workdir: Path) -> None:
    code = "open('/proc/sys/vm/drop_caches', 'w').write('3')"
    result = await run_py(sandbox, workdir, code)
    assert result.status == "error"
    assert any(e in result.stderr for e in ("Read-only file system", "Permission denied"))


async def test_output_keeps_escapes_and_makes_nul_storable(
    sandbox: BwrapSandbox, workdir: Path
) -> None:
    """ANSI escapes come back as written; NUL (which PostgreSQL cannot hold) as U+FFFD."""
    code = "import sys; sys.stdout.buffer.write(b'\\x1b[31mRED\\x00END\\xff\\n')"
    result = await run_py(sandbox, workdir, code)
    assert (result.status, result.stdout) == ("ok", "\x1b[31mRED\ufffdEND\ufffd\n")
