"""GvisorSandbox: each execution in a fresh gVisor container (`runsc run` + OCI bundle).

gVisor's user-space kernel answers the sandboxed process's system calls, so a kernel bug
reachable from a syscall is not reachable from here. `runsc run` with a bundle shows only
what the bundle mounts (`runsc do` would expose the host filesystem): a read-only root
made of empty mount points, /usr read-only, a private /tmp and the work directory at /work.
No network (`--network=none`), uid/gid 65534 with no capabilities, rlimits in the OCI
process, and the executor's cgroup, wall clock and output caps from `runner`. Start-up is
~200 ms (ptrace platform), so this backend suits tools that value isolation over latency.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Final, Literal

from somaagent.adapters.sandbox.bwrap import SANDBOX_PATH, SANDBOX_WORKDIR
from somaagent.adapters.sandbox.runner import run_contained
from somaagent.domain.errors import InfraError, ValidationError
from somaagent.domain.tools import SANDBOX_UID, SandboxLimits, SandboxResult, SandboxSpec

_ROOT_DIRS: Final = ("usr", "work", "tmp", "proc", "dev", "etc")
_ROOT_LINKS: Final = {"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64", "sbin": "usr/sbin"}
_ETC_FILES: Final = ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf")


def prepare_rootfs(base: Path) -> Path:
    """An empty, read-only-mounted root: mount points, merged-/usr links, /etc/passwd."""
    root = base / "rootfs"
    for name in _ROOT_DIRS:
        (root / name).mkdir(parents=True, exist_ok=True)
    for link, target in _ROOT_LINKS.items():
        if not (root / link).is_symlink():
            (root / link).symlink_to(target)
    (root / "etc" / "passwd").write_text(f"nobody:x:{SANDBOX_UID}:{SANDBOX_UID}::/work:/bin/sh\n")
    (root / "etc" / "group").write_text(f"nogroup:x:{SANDBOX_UID}:\n")
    for name in _ETC_FILES:
        (root / name.lstrip("/")).touch()
    return root


def _bind(source: str, destination: str, mode: str) -> dict[str, Any]:
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", mode]}  # fmt: skip


def _rlimits(limits: SandboxLimits) -> list[dict[str, Any]]:
    caps = {
        "RLIMIT_CPU": limits.cpu_seconds,
        "RLIMIT_AS": limits.address_space_bytes,
        "RLIMIT_FSIZE": limits.file_size_bytes,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_CORE": 0,
    }
    return [{"type": k, "hard": v, "soft": v} for k, v in caps.items()]


def oci_config(spec: SandboxSpec, rootfs: Path) -> dict[str, Any]:
    """The OCI runtime config for one execution (pure)."""
    env = {"PATH": SANDBOX_PATH, "HOME": SANDBOX_WORKDIR, "LANG": "C.UTF-8", **spec.env}
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
        _bind("/usr", "/usr", "ro"),
        *(_bind(f, f, "ro") for f in _ETC_FILES if os.path.exists(f)),
        _bind(spec.workdir, SANDBOX_WORKDIR, "rw"),
    ]
    namespaces = ["pid", "network", "ipc", "uts", "mount"]
    return {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": False,
            "user": {"uid": SANDBOX_UID, "gid": SANDBOX_UID},
            "args": spec.argv,
            "env": [f"{k}={v}" for k, v in env.items()],
            "cwd": SANDBOX_WORKDIR,
            "noNewPrivileges": True,
            "capabilities": {"bounding": [], "effective": [], "permitted": []},
            "rlimits": _rlimits(spec.limits),
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "sandbox",
        "mounts": mounts,
        "linux": {"namespaces": [{"type": t} for t in namespaces]},
    }


class GvisorSandbox:
    """The ToolSandbox on gVisor (`runsc`, ptrace platform, no network)."""

    name: Literal["gvisor"] = "gvisor"

    def __init__(self, base_dir: Path, runsc: str | None = None) -> None:
        found = runsc or shutil.which("runsc")
        if found is None:
            raise InfraError("gVisor (runsc) is not installed; apt-get install runsc")
        self._runsc = found
        self._base = base_dir
        self._rootfs = prepare_rootfs(base_dir)

    async def run(self, spec: SandboxSpec) -> SandboxResult:
        workdir = Path(spec.workdir)
        if not await asyncio.to_thread(workdir.is_dir):
            raise ValidationError("workdir", f"{spec.workdir} is not a directory")
        bundle = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="bundle-", dir=self._base))
        try:
            config = json.dumps(oci_config(spec, self._rootfs))
            await asyncio.to_thread((bundle / "config.json").write_text, config)
            argv = [
                self._runsc, "--root", str(bundle / "state"), "--network=none",
                "--platform=ptrace", "run", "--bundle", str(bundle), f"soma-{uuid.uuid4().hex}",
            ]  # fmt: skip
            return await run_contained(
                argv, limits=spec.limits, workdir=workdir, stdin=spec.stdin, limit_launcher=False
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, bundle, True)
