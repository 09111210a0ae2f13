"""Run one sandbox launcher process under a cgroup, rlimits, a wall clock and output caps.

Both local backends (bubblewrap, gVisor) hand the command line they built to `run_contained`.
The child joins its cgroup, sets its rlimits and drops to uid/gid 65534 before it executes
the launcher, so everything the sandboxed code starts is counted, capped and unprivileged on
the host (files it writes belong to nobody; root-only files such as /proc/sys stay closed).
Output is read in chunks; past `max_output_bytes` it is drained and dropped (never buffered)
and the result says truncated.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from somaagent.adapters.sandbox.cgroups import Cgroup, join_cgroups
from somaagent.domain.errors import InfraError
from somaagent.domain.tools import SANDBOX_UID, KillReason, SandboxLimits, SandboxResult

CHUNK = 64 * 1024
_SIGNAL_REASONS: dict[int, KillReason] = {signal.SIGXCPU: "cpu", signal.SIGXFSZ: "file_size"}


@dataclass
class CappedBuffer:
    cap: int
    data: bytearray
    total: int = 0

    def feed(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data.extend(chunk[:room])
        self.total += len(chunk)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)

    def text(self) -> str:
        """UTF-8 with bad bytes and NUL as U+FFFD (PostgreSQL text and jsonb refuse NUL);
        every other character, ANSI escapes included, is kept as the code wrote it."""
        return self.data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


async def _drain(stream: asyncio.StreamReader | None, buf: CappedBuffer) -> None:
    if stream is None:
        return
    while chunk := await stream.read(CHUNK):
        buf.feed(chunk)


def _preexec(
    limits: SandboxLimits, procs_files: list[str], limit_launcher: bool
) -> Callable[[], None]:
    def setup() -> None:
        join_cgroups(procs_files)
        if not limit_launcher:
            return
        caps = (
            (resource.RLIMIT_AS, limits.address_space_bytes),
            (resource.RLIMIT_FSIZE, limits.file_size_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CORE, 0),
        )
        for which, value in caps:
            resource.setrlimit(which, (value, value))
        # Soft CPU limit delivers SIGXCPU (a clear reason); the hard one a second later SIGKILL.
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        if os.geteuid() == 0:
            # The launcher itself runs as nobody: whatever the sandbox maps to is nobody too.
            os.setgroups([])
            os.setgid(SANDBOX_UID)
            os.setuid(SANDBOX_UID)

    return setup


def _signal_reason(code: int | None) -> KillReason | None:
    if code is None:
        return None
    if code < 0:
        return _SIGNAL_REASONS.get(-code)
    return _SIGNAL_REASONS.get(code - 128) if code > 128 else None


def _dir_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_symlink())


def _clear_dir(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


async def _enforce_quota(workdir: Path, quota: int) -> bool:
    """True (and the work dir emptied) when the run left more than the quota behind."""
    if await asyncio.to_thread(_dir_size, workdir) <= quota:
        return False
    await asyncio.to_thread(_clear_dir, workdir)
    return True


async def run_contained(
    argv: list[str],
    *,
    limits: SandboxLimits,
    workdir: Path,
    stdin: bytes = b"",
    pass_fds: tuple[int, ...] = (),
    limit_launcher: bool = True,
) -> SandboxResult:
    """Run `argv` (a sandbox launcher) contained; kill its whole tree on the wall clock.

    With `limit_launcher` (bubblewrap) the rlimits and the drop to nobody apply to the
    launcher and so to everything under it. gVisor passes False: its runtime needs root and
    a large address space, and it applies the rlimits to the sandboxed process itself.
    """
    group = Cgroup(f"run-{uuid.uuid4().hex[:12]}", limits.memory_bytes, limits.max_pids)
    await asyncio.to_thread(group.create)
    out, err = (
        CappedBuffer(limits.max_output_bytes, bytearray()),
        CappedBuffer(limits.max_output_bytes, bytearray()),
    )
    started = time.perf_counter()
    try:
        killed, code = await _execute(
            argv, limits, group, out=out, err=err, stdin=stdin, pass_fds=pass_fds,
            limit_launcher=limit_launcher,
        )  # fmt: skip
        killed = killed or group.limit_hit() or _signal_reason(code)
    finally:
        await asyncio.to_thread(group.remove)
    if await _enforce_quota(workdir, limits.workspace_quota_bytes):
        killed = killed or "disk_quota"
    return SandboxResult(
        exit_code=code,
        stdout=out.text(),
        stderr=err.text(),
        truncated=out.truncated or err.truncated,
        duration_s=time.perf_counter() - started,
        killed=killed,
    )


async def _execute(
    argv: list[str],
    limits: SandboxLimits,
    group: Cgroup,
    *,
    out: CappedBuffer,
    err: CappedBuffer,
    stdin: bytes,
    pass_fds: tuple[int, ...],
    limit_launcher: bool,
) -> tuple[KillReason | None, int | None]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=pass_fds,
            preexec_fn=_preexec(limits, group.procs_files(), limit_launcher),
            start_new_session=True,
        )
    except OSError as exc:
        raise InfraError(f"cannot start sandbox launcher {argv[0]}: {exc}") from exc
    readers = asyncio.gather(_drain(proc.stdout, out), _drain(proc.stderr, err), proc.wait())
    await _feed_stdin(proc, stdin)
    try:
        await asyncio.wait_for(asyncio.shield(readers), limits.wall_timeout_s)
    except TimeoutError:
        await asyncio.to_thread(group.kill_all)
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(readers, 10)
        return "timeout", proc.returncode
    return None, proc.returncode


async def _feed_stdin(proc: asyncio.subprocess.Process, data: bytes) -> None:
    if proc.stdin is None:
        return
    try:
        if data:
            proc.stdin.write(data)
            await asyncio.wait_for(proc.stdin.drain(), 5)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    finally:
        proc.stdin.close()
