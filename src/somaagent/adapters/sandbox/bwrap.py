"""BwrapSandbox: each execution in a fresh bubblewrap sandbox.

Every namespace is unshared (no network at all, own pid/ipc/uts/mount/user), the code runs
as uid/gid 65534 with no capabilities, sees only read-only system directories, a minimal
/etc, a private /tmp and its own work directory (read-write, mounted at /work), and runs
under the seccomp filter of `seccomp.py`. Rlimits, the cgroup, the wall clock and output
caps come from `runner.run_contained`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Final, Literal

from somaagent.adapters.sandbox import seccomp
from somaagent.adapters.sandbox.runner import run_contained
from somaagent.domain.errors import InfraError, ValidationError
from somaagent.domain.tools import SandboxResult, SandboxSpec

SANDBOX_WORKDIR: Final = "/work"
SANDBOX_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
#: System directories made visible read-only (each only if the host has it).
RO_DIRS: Final = ("/usr", "/etc/alternatives", "/etc/python3", "/etc/python3.11", "/etc/ssl")
#: Single /etc files programs expect; never shadow, sudoers, ssh keys or the like.
RO_ETC_FILES: Final = (
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/nsswitch.conf",
)
MERGED_USR_LINKS: Final = ("/bin", "/lib", "/lib64", "/sbin")
_PASSWD: Final = "nobody:x:65534:65534:nobody:/work:/bin/sh\n"
_GROUP: Final = "nogroup:x:65534:\n"


def _fs_args() -> list[str]:
    args: list[str] = []
    for d in RO_DIRS:
        args += ["--ro-bind-try", d, d]
    for f in RO_ETC_FILES:
        args += ["--ro-bind-try", f, f]
    for link in MERGED_USR_LINKS:
        target = Path(link)
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), link]
        elif target.is_dir():
            args += ["--ro-bind", link, link]
    return args


def bwrap_argv(spec: SandboxSpec, fds: tuple[int, int, int], bwrap: str = "bwrap") -> list[str]:
    """The bubblewrap command line for one execution; `fds` = (passwd, group, seccomp)."""
    passwd_fd, group_fd, seccomp_fd = (str(fd) for fd in fds)
    args = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--uid", "65534",
        "--gid", "65534",
        "--hostname", "sandbox",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--clearenv",
        *_fs_args(),
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--perms", "0444", "--file", passwd_fd, "/etc/passwd",
        "--perms", "0444", "--file", group_fd, "/etc/group",
        "--bind", spec.workdir, SANDBOX_WORKDIR,
        "--chdir", SANDBOX_WORKDIR,
        "--setenv", "PATH", SANDBOX_PATH,
        "--setenv", "HOME", SANDBOX_WORKDIR,
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
    ]  # fmt: skip
    for key, value in spec.env.items():
        args += ["--setenv", key, value]
    args += ["--seccomp", seccomp_fd, "--", *spec.argv]
    return args


def _data_fd(text: str) -> int:
    fd = os.memfd_create("soma-etc", 0)
    os.write(fd, text.encode())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class BwrapSandbox:
    """The ToolSandbox on bubblewrap + seccomp + cgroups + rlimits."""

    name: Literal["bwrap"] = "bwrap"

    def __init__(self, bwrap: str | None = None) -> None:
        found = bwrap or shutil.which("bwrap")
        if found is None:
            raise InfraError("bubblewrap (bwrap) is not installed; apt-get install bubblewrap")
        self._bwrap = found

    async def run(self, spec: SandboxSpec) -> SandboxResult:
        workdir = Path(spec.workdir)
        if not await asyncio.to_thread(workdir.is_dir):
            raise ValidationError("workdir", f"{spec.workdir} is not a directory")
        fds = prepared_fds()
        try:
            argv = bwrap_argv(spec, fds, self._bwrap)
            return await run_contained(
                argv, limits=spec.limits, workdir=workdir, stdin=spec.stdin, pass_fds=fds
            )
        finally:
            for fd in fds:
                os.close(fd)


def prepared_fds() -> tuple[int, int, int]:
    """(passwd, group, seccomp) fds, inherited by number into bwrap."""
    passwd, group = _data_fd(_PASSWD), _data_fd(_GROUP)
    return passwd, group, seccomp.filter_fd()
