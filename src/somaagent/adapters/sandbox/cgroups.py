"""Per-execution cgroups for memory and process count, on cgroup v1 or v2.

RLIMIT_NPROC does not hold for ids mapped to root, so the process count is capped by the
pids controller; memory by the memory controller (swap included where accounted). The
sandbox is put into its cgroup by its own pre-exec hook, so every descendant is counted
from the first instruction. `kill_all` ends every process in the group, however deep.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from somaagent.domain.errors import InfraError
from somaagent.domain.tools import KillReason

CGROUP_ROOT: Final = Path("/sys/fs/cgroup")
PARENT: Final = "soma-sandbox"


def cgroup_version(root: Path = CGROUP_ROOT) -> int:
    """2 on a unified hierarchy, 1 on the legacy per-controller one."""
    return 2 if (root / "cgroup.controllers").exists() else 1


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _counter(path: Path, key: str) -> int:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


@dataclass
class Cgroup:
    """One execution's cgroup (a directory per controller on v1, one on v2)."""

    name: str
    memory_bytes: int
    max_pids: int
    root: Path = CGROUP_ROOT
    dirs: list[Path] = field(default_factory=list)

    @property
    def _v2(self) -> bool:
        return cgroup_version(self.root) == 2

    def _memory_dir(self) -> Path:
        return (
            self.root / PARENT / self.name
            if self._v2
            else self.root / "memory" / PARENT / self.name
        )

    def _pids_dir(self) -> Path:
        return (
            self.root / PARENT / self.name if self._v2 else self.root / "pids" / PARENT / self.name
        )

    def create(self) -> None:
        try:
            self._create()
        except OSError as exc:
            self.remove()
            raise InfraError(f"cannot create sandbox cgroup {self.name}: {exc}") from exc

    def _create(self) -> None:
        if self._v2:
            parent = self.root / PARENT
            parent.mkdir(exist_ok=True)
            _write(parent / "cgroup.subtree_control", "+memory +pids")
        mem, pids = self._memory_dir(), self._pids_dir()
        for d in dict.fromkeys([mem, pids]):
            d.mkdir(parents=True, exist_ok=True)
            self.dirs.append(d)
        if self._v2:
            _write(mem / "memory.max", str(self.memory_bytes))
            _write(mem / "memory.swap.max", "0")
        else:
            _write(mem / "memory.limit_in_bytes", str(self.memory_bytes))
            memsw = mem / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                _write(memsw, str(self.memory_bytes))
        _write(pids / "pids.max", str(self.max_pids))

    def procs_files(self) -> list[str]:
        """The `cgroup.procs` files a new process writes its pid into."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs:
            try:
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except OSError:
                continue
        return sorted(found)

    def kill_all(self, attempts: int = 50) -> None:
        """SIGKILL every member until the group is empty (forks may race the first pass)."""
        for _ in range(attempts):
            members = self.pids()
            if not members:
                return
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
            time.sleep(0.01)

    def limit_hit(self) -> KillReason | None:
        """Which cap the kernel enforced during the run, if any."""
        mem, pids = self._memory_dir(), self._pids_dir()
        if self._v2:
            oom = _counter(mem / "memory.events", "oom_kill")
        else:
            oom = _counter(mem / "memory.oom_control", "oom_kill")
        if oom > 0:
            return "memory"
        if _counter(pids / "pids.events", "max") > 0:
            return "pids"
        return None

    def remove(self) -> None:
        self.kill_all()
        for d in reversed(self.dirs):
            try:
                d.rmdir()
            except OSError:
                continue
        self.dirs.clear()


def join_cgroups(procs_files: list[str]) -> None:
    """Pre-exec hook body: move the calling (child) process into the cgroups."""
    pid = str(os.getpid())
    for path in procs_files:
        with open(path, "w") as fh:
            fh.write(pid)
