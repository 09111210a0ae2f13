"""Sandbox backends for the tool executor: bubblewrap (default), gVisor, Docker."""

from somaagent.adapters.sandbox.bwrap import BwrapSandbox

__all__ = ["BwrapSandbox"]
