"""A seccomp-BPF filter for sandboxed code, built with libseccomp (pyseccomp).

Default allow, with the syscalls that touch the kernel's global state or other
processes answered by EPERM: tracing, mounts, namespaces, keyrings, BPF, perf,
module loading, kexec and friends. bubblewrap loads it (`--seccomp FD`) right before
it executes the sandboxed command, after its own set-up.
"""

from __future__ import annotations

import errno
import os
import tempfile
from functools import cache
from typing import Final

import pyseccomp  # type: ignore[import-untyped]

from somaagent.domain.errors import InfraError

BLOCKED_SYSCALLS: Final = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "open_by_handle_at",
    "name_to_handle_at",
    "fanotify_init",
    "lookup_dcookie",
    "move_pages",
    "mbind",
    "set_mempolicy",
    "iopl",
    "ioperm",
)


@cache
def filter_bytes() -> bytes:
    """The compiled BPF program (built once per process)."""
    try:
        flt = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        for name in BLOCKED_SYSCALLS:
            flt.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
        with tempfile.TemporaryFile() as out:
            flt.export_bpf(out)
            out.seek(0)
            return out.read()
    except (OSError, RuntimeError, ValueError) as exc:
        raise InfraError(f"could not build the seccomp filter: {exc}") from exc


def filter_fd() -> int:
    """A fresh memfd holding the filter, positioned at 0; the caller closes it."""
    fd = os.memfd_create("soma-seccomp", 0)
    os.write(fd, filter_bytes())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
