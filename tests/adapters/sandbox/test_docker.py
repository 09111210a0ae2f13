"""The Docker backend: runs only where a Docker engine answers (`docker info`)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from somaagent.adapters.sandbox.docker import DockerSandbox, docker_argv
from somaagent.domain.tools import SandboxLimits, SandboxSpec


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], check=False, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def test_command_line_isolates_the_container() -> None:
    spec = SandboxSpec(argv=["python3", "-c", "1"], workdir="/srv/ws", limits=SandboxLimits())
    argv = docker_argv(spec, "soma-x", "python:3.11-slim")
    joined = " ".join(argv)
    for flag in ("--network none", "--read-only", "--cap-drop ALL", "--user 65534:65534",
                 "--pids-limit 64", "-v /srv/ws:/work:rw"):  # fmt: skip
        assert flag in joined
    assert argv[-4:] == ["python:3.11-slim", "python3", "-c", "1"]


@pytest.mark.docker
@pytest.mark.skipif(not docker_available(), reason="no Docker engine on this host")
async def test_runs_code_in_a_container() -> None:
    root = Path(tempfile.mkdtemp(prefix="soma-ws-"))
    try:
        spec = SandboxSpec(
            argv=["python3", "-c", "import os; print(os.getuid())"],
            workdir=str(root),
            limits=SandboxLimits(wall_timeout_s=120),
        )
        result = await DockerSandbox().run(spec)
        assert (result.status, result.stdout) == ("ok", "65534\n")
    finally:
        shutil.rmtree(root)
