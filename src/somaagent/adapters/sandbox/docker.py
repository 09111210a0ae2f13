"""DockerSandbox: each execution in a fresh container, for production hosts with Docker.

`docker run --rm` with no network, a read-only root, uid/gid 65534, every capability
dropped, no-new-privileges, Docker's default seccomp profile, memory and pids limits,
ulimits and the work directory bound at /work. The image (default python:3.11-slim) must
be pulled by the operator. The wall clock is enforced by the executor; the container is
removed by name afterwards whatever happened (`docker rm -f`), since killing the CLI does
not stop a container.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Literal

from somaagent.adapters.sandbox.bwrap import SANDBOX_WORKDIR
from somaagent.adapters.sandbox.runner import run_contained
from somaagent.domain.errors import InfraError, ValidationError
from somaagent.domain.tools import SANDBOX_UID, SandboxResult, SandboxSpec

DEFAULT_IMAGE = "python:3.11-slim"


def docker_argv(spec: SandboxSpec, name: str, image: str, docker: str = "docker") -> list[str]:
    """The `docker run` command line for one execution (pure)."""
    lim = spec.limits
    args = [
        docker, "run", "--rm", "-i", "--name", name,
        "--network", "none", "--read-only", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--user", f"{SANDBOX_UID}:{SANDBOX_UID}",
        "--memory", str(lim.memory_bytes), "--memory-swap", str(lim.memory_bytes),
        "--pids-limit", str(lim.max_pids),
        "--ulimit", f"cpu={lim.cpu_seconds}:{lim.cpu_seconds + 1}",
        "--ulimit", f"fsize={lim.file_size_bytes}",
        "--ulimit", f"nofile={lim.open_files}",
        "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m",
        "-v", f"{spec.workdir}:{SANDBOX_WORKDIR}:rw", "-w", SANDBOX_WORKDIR,
        "-e", f"HOME={SANDBOX_WORKDIR}",
    ]  # fmt: skip
    for key, value in spec.env.items():
        args += ["-e", f"{key}={value}"]
    return [*args, image, *spec.argv]


class DockerSandbox:
    """The ToolSandbox on a Docker engine."""

    name: Literal["docker"] = "docker"

    def __init__(self, image: str = DEFAULT_IMAGE, docker: str | None = None) -> None:
        found = docker or shutil.which("docker")
        if found is None:
            raise InfraError("the docker CLI is not installed on this host")
        self._docker = found
        self._image = image

    async def run(self, spec: SandboxSpec) -> SandboxResult:
        workdir = Path(spec.workdir)
        if not await asyncio.to_thread(workdir.is_dir):
            raise ValidationError("workdir", f"{spec.workdir} is not a directory")
        name = f"soma-{uuid.uuid4().hex[:16]}"
        try:
            return await run_contained(
                docker_argv(spec, name, self._image, self._docker),
                limits=spec.limits,
                workdir=workdir,
                stdin=spec.stdin,
                limit_launcher=False,
            )
        finally:
            await self._remove(name)

    async def _remove(self, name: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            self._docker, "rm", "-f", name,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
