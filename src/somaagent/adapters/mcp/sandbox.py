"""Start a stdio MCP server inside the bubblewrap sandbox the executor uses for code.

The command line is the code sandbox's (`bwrap_argv`: every namespace unshared, uid 65534, no
capabilities, read-only system dirs, private /tmp, the seccomp filter) plus read-only mounts of
what the server needs and, only when the server's entry grants hosts, the host's network. Its
own directory is the read-write /work. The launcher joins a cgroup of its own (memory and
process caps) and drops to nobody before bwrap starts; unlike a code run there is no CPU-time
or wall-clock cap: the server lives across calls and each call has its own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from somaagent.adapters.mcp.config import McpServerConfig, McpSettings
from somaagent.adapters.sandbox.bwrap import bwrap_argv, prepared_fds
from somaagent.adapters.sandbox.cgroups import Cgroup, join_cgroups
from somaagent.domain.errors import InfraError
from somaagent.domain.tools import SANDBOX_UID, SandboxSpec

#: Files a networked server needs to resolve names.
NET_ETC_FILES: Final = ("/etc/resolv.conf", "/etc/hosts")


def server_argv(server: McpServerConfig, workdir: Path, fds: tuple[int, int, int]) -> list[str]:
    """bwrap + the server's command, with its mounts and (if granted) the network."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise InfraError("bubblewrap (bwrap) is not installed; apt-get install bubblewrap")
    spec = SandboxSpec(argv=server.command, workdir=str(workdir), env=server.env)
    argv = bwrap_argv(spec, fds, bwrap)
    extra: list[str] = []
    for mount in server.mounts:
        extra += ["--ro-bind", str(mount), str(mount)]
    if server.hosts:
        extra.append("--share-net")
        for f in NET_ETC_FILES:
            extra += ["--ro-bind-try", f, f]
    at = argv.index("--seccomp")
    return argv[:at] + extra + argv[at:]


def _preexec(procs_files: list[str]) -> Callable[[], None]:
    def setup() -> None:
        join_cgroups(procs_files)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(SANDBOX_UID)
            os.setuid(SANDBOX_UID)

    return setup


@dataclass
class SandboxedProcess:
    """A running server: its process and its cgroup (killed and removed by `stop`)."""

    process: asyncio.subprocess.Process
    group: Cgroup

    async def stop(self) -> None:
        """Kill every process of the server, wait for the launcher, drop the cgroup."""
        await asyncio.to_thread(self.group.kill_all)
        if self.process.returncode is None:
            self.process.kill()
        # asyncio reaps the process (and closes its pipes) only once both pipes reach EOF;
        # output left unread after the pumps were cancelled would keep them open for good
        ended = asyncio.gather(
            _read_to_eof(self.process.stdout),
            _read_to_eof(self.process.stderr),
            self.process.wait(),
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ended, 5)
        await asyncio.to_thread(self.group.remove)


async def _read_to_eof(stream: asyncio.StreamReader | None) -> None:
    while stream is not None and await stream.read(64 * 1024):
        pass


async def start_server(
    server: McpServerConfig, workdir: Path, settings: McpSettings
) -> SandboxedProcess:
    """Start `server` sandboxed; its stdin/stdout are the JSON-RPC pipes."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(os.chown, workdir, SANDBOX_UID, SANDBOX_UID)
    group = Cgroup(
        f"mcp-{server.name}-{uuid.uuid4().hex[:8]}", settings.memory_bytes, settings.max_pids
    )
    await asyncio.to_thread(group.create)
    fds = prepared_fds()
    try:
        process = await asyncio.create_subprocess_exec(
            *server_argv(server, workdir, fds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=fds,
            preexec_fn=_preexec(group.procs_files()),
            start_new_session=True,
            limit=settings.max_message_bytes,
        )
    except OSError as exc:
        await asyncio.to_thread(group.remove)
        raise InfraError(f"cannot start MCP server {server.name}: {exc}") from exc
    finally:
        for fd in fds:
            os.close(fd)
    return SandboxedProcess(process, group)
