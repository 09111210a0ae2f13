"""A seccomp-BPF filter for sandboxed code, built with libseccomp (pyseccomp).

Default allow, with the syscalls that Docker's default profile leaves out of its allow
list (io_uring included, which Docker also stopped allowing) answered by EPERM: tracing
and other processes' memory, mounts (old and new API), namespaces, keyrings, BPF, perf,
io_uring, userfaultfd, module loading, kexec, clocks, swap, accounting, quotas, NUMA
policy and the obsolete calls. Three calls are filtered on their arguments, as Docker does:

- `clone` with any CLONE_NEW* flag -> EPERM (a nested user namespace would give the code
  every capability inside it, the start of most namespace escapes);
- `clone3` -> ENOSYS, so glibc falls back to `clone`, whose flags a filter can read
  (clone3 passes them in memory);
- `personality` -> EPERM for everything but the read-only query 0xffffffff (a persona can
  switch address-space randomisation off or make reads imply exec).

Foreign architectures (the 32-bit and x32 syscall entry points) kill the process: the
filter only lists the native one. bubblewrap loads it (`--seccomp FD`) right before it
executes the sandboxed command, after its own set-up.
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
    # other processes: tracing, their memory, their file descriptors
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    "pidfd_getfd",
    # file systems and namespaces
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    "fanotify_init",
    "quotactl",
    "quotactl_fd",
    "ustat",
    "sysfs",
    # kernel attack surface: keyrings, BPF, perf, io_uring, userfaultfd
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "lookup_dcookie",
    # the kernel itself: modules, kexec, reboot, swap, accounting, logs, I/O ports
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "nfsservctl",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "_sysctl",
    "uselib",
    "iopl",
    "ioperm",
    "vm86",
    "vm86old",
    "vhangup",
    # clocks are not namespaced
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    # NUMA memory policy
    "move_pages",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
)

NAMESPACE_CLONE_FLAGS: Final = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
PERSONALITY_QUERY: Final = 0xFFFFFFFF


def _add_argument_rules(flt: pyseccomp.SyscallFilter) -> None:
    """clone with a namespace flag, clone3 and every persona change (see the module doc)."""
    eperm = pyseccomp.ERRNO(errno.EPERM)
    for flag in NAMESPACE_CLONE_FLAGS.values():
        flt.add_rule(eperm, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    flt.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    flt.add_rule(eperm, "personality", pyseccomp.Arg(0, pyseccomp.LT, PERSONALITY_QUERY))
    flt.add_rule(eperm, "personality", pyseccomp.Arg(0, pyseccomp.GT, PERSONALITY_QUERY))


@cache
def filter_bytes() -> bytes:
    """The compiled BPF program (built once per process)."""
    try:
        flt = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        for name in BLOCKED_SYSCALLS:
            flt.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
        _add_argument_rules(flt)
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
