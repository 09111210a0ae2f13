"""The seccomp filter, tried from inside a real bwrap sandbox as an attacker would.

Sandboxed Python calls each syscall by number through ctypes with harmless arguments and
reports the return value and errno. The syscalls listed here are the ones Docker's default
profile does not allow, io_uring included. Without the filter many of them reach the kernel
and fail with EFAULT, EINVAL or EBADF, or even succeed (kcmp, get_mempolicy, clone with
CLONE_NEWUSER, personality): 24 of these tests failed on the filter before issue 14. With
it, every one must answer EPERM, and ordinary Python (threads, subprocesses, a process
pool, asyncio) must still run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyseccomp  # type: ignore[import-untyped]
import pytest

from somaagent.adapters.sandbox import BwrapSandbox
from somaagent.domain.tools import SandboxLimits, SandboxResult, SandboxSpec
from somaagent.tools.workspace import Workspaces

EPERM, ENOSYS = 1, 38
SIGSYS = 31

DENIED = (
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "keyctl", "add_key", "request_key", "bpf",
    "perf_event_open", "userfaultfd", "ptrace", "process_vm_readv", "process_vm_writev",
    "kcmp", "pidfd_getfd", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "open_by_handle_at", "name_to_handle_at", "init_module", "finit_module",
    "delete_module", "create_module", "get_kernel_syms", "query_module", "nfsservctl",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "lookup_dcookie",
    "syslog", "_sysctl", "uselib", "ustat", "sysfs", "iopl", "ioperm", "vhangup",
    "clock_settime", "clock_adjtime", "settimeofday", "adjtimex",
    "move_pages", "mbind", "set_mempolicy", "get_mempolicy", "fanotify_init",
)  # fmt: skip

NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
ADDR_NO_RANDOMIZE = 0x0040000

# Runs inside the sandbox: PROBES is a list of (label, nr, args). A clone that gets through
# leaves its child here; the child exits at once so the parent alone prints.
PROBE_CODE = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}
for label, nr, args in PROBES:
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    if rc == 0 and label.startswith("clone"):
        os._exit(0)
    out[label] = [rc, ctypes.get_errno()]
print(json.dumps(out))
"""


def _nr(name: str) -> int:
    return int(pyseccomp.resolve_syscall(pyseccomp.system_arch(), name))


def _probes() -> list[tuple[str, int, list[int]]]:
    probes = [(name, _nr(name), [-1, 0, 0, 0, 0, 0]) for name in DENIED]
    sigchld, clone = 17, _nr("clone")
    probes += [(f"clone {n}", clone, [f | sigchld, 0, 0, 0, 0]) for n, f in NAMESPACE_FLAGS.items()]
    probes += [
        ("clone3", _nr("clone3"), [0, 0]),
        ("personality ADDR_NO_RANDOMIZE", _nr("personality"), [ADDR_NO_RANDOMIZE]),
        ("personality high bits", _nr("personality"), [(1 << 32) | ADDR_NO_RANDOMIZE]),
        ("personality query", _nr("personality"), [0xFFFFFFFF]),
    ]
    return probes


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="soma-ws-"))
    yield Workspaces(root).ensure("t", "seccomp")
    shutil.rmtree(root)


async def run_py(workdir: Path, code: str) -> SandboxResult:
    spec = SandboxSpec(
        argv=["python3", "-I", "-c", code],
        workdir=str(workdir),
        limits=SandboxLimits(wall_timeout_s=20.0),
    )
    return await BwrapSandbox().run(spec)


@pytest.fixture(scope="module")
async def outcomes(workdir: Path) -> dict[str, list[int]]:
    """One sandbox run answers every probe: label -> [return value, errno]."""
    result = await run_py(workdir, f"PROBES = {_probes()!r}\n{PROBE_CODE}")
    assert (result.status, result.stderr) == ("ok", "")
    parsed: dict[str, list[int]] = json.loads(result.stdout)
    return parsed


@pytest.mark.parametrize("name", DENIED)
def test_denied_syscall_answers_eperm(outcomes: dict[str, list[int]], name: str) -> None:
    assert outcomes[name] == [-1, EPERM]


@pytest.mark.parametrize("flag", sorted(NAMESPACE_FLAGS))
def test_clone_into_a_new_namespace_answers_eperm(
    outcomes: dict[str, list[int]], flag: str
) -> None:
    assert outcomes[f"clone {flag}"] == [-1, EPERM]


def test_clone3_answers_enosys_so_libc_falls_back_to_clone(
    outcomes: dict[str, list[int]],
) -> None:
    assert outcomes["clone3"] == [-1, ENOSYS]


def test_personality_can_be_read_but_not_changed(outcomes: dict[str, list[int]]) -> None:
    assert outcomes["personality ADDR_NO_RANDOMIZE"] == [-1, EPERM]
    assert outcomes["personality high bits"] == [-1, EPERM]
    persona, err = outcomes["personality query"]
    assert (persona & ADDR_NO_RANDOMIZE, err) == (0, 0)


async def test_x32_entry_point_kills_the_process(workdir: Path) -> None:
    """io_uring_setup through the x32 syscall numbers must not slip past the filter."""
    x32_bit = 0x40000000
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"libc.syscall(ctypes.c_long({x32_bit | _nr('io_uring_setup')}), 1, 0)\n"
        "print('reached')"
    )
    result = await run_py(workdir, code)
    assert "reached" not in result.stdout
    assert result.exit_code == 128 + SIGSYS


ORDINARY = """
import asyncio, hashlib, json, subprocess, sys, threading
from concurrent.futures import ProcessPoolExecutor
box = []
t = threading.Thread(target=lambda: box.append(hashlib.sha256(b"x").hexdigest()[:8]))
t.start(); t.join()
shell = subprocess.run(["sh", "-c", "echo sub"], capture_output=True, text=True).stdout.strip()
with ProcessPoolExecutor(2) as pool:
    squares = list(pool.map(pow, [2, 3], [2, 2]))
async def main() -> int:
    await asyncio.sleep(0.01)
    return 7
print(json.dumps([box[0], shell, squares, asyncio.run(main())]))
"""


async def test_ordinary_python_still_runs(workdir: Path) -> None:
    result = await run_py(workdir, ORDINARY)
    assert (result.status, result.stderr) == ("ok", "")
    assert json.loads(result.stdout) == ["2d711642", "sub", [4, 9], 7]


def test_every_native_probe_resolves(outcomes: dict[str, list[int]]) -> None:
    """Names absent from this architecture would make the probes above test nothing."""
    assert all(_nr(name) >= 0 for name in DENIED)
    assert set(DENIED) <= set(outcomes)
