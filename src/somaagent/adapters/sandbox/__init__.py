"""Sandbox backends for the tool executor: bubblewrap (default), gVisor, Docker."""

from somaagent.adapters.sandbox.bwrap import BwrapSandbox
from somaagent.adapters.sandbox.docker import DockerSandbox
from somaagent.adapters.sandbox.gvisor import GvisorSandbox

__all__ = ["BwrapSandbox", "DockerSandbox", "GvisorSandbox"]
