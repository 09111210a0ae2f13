"""Tool executor metrics, named as docs/architecture.md documents them.

- tool_execution_duration_seconds{tool,status,tenant}: wall time of one request, policy included.
- sandbox_kills_total{reason}: runs the sandbox ended (timeout, memory, pids, cpu, ...).
- tool_requests_redelivered_total{outcome}: redelivered requests (republished, busy, abandoned).
- sandbox_starts_total{backend}: sandboxes started (bwrap, gvisor, docker).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from somaagent.domain.tools import SandboxBackend, SandboxResult, SandboxSpec, ToolSandbox

TOOL_DURATION = Histogram(
    "tool_execution_duration_seconds",
    "Wall time of one tool request in the executor, in seconds.",
    ["tool", "status", "tenant"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
SANDBOX_KILLS = Counter("sandbox_kills_total", "Sandbox runs ended by a limit.", ["reason"])
REDELIVERED = Counter(
    "tool_requests_redelivered_total",
    "Requests seen again after a claim existed, by what the executor did.",
    ["outcome"],
)
SANDBOX_STARTS = Counter("sandbox_starts_total", "Sandboxes started, by backend.", ["backend"])


class MeteredSandbox:
    """A ToolSandbox that counts its starts in sandbox_starts_total{backend}."""

    def __init__(self, inner: ToolSandbox) -> None:
        self._inner = inner

    @property
    def name(self) -> SandboxBackend:
        return self._inner.name

    async def run(self, spec: SandboxSpec) -> SandboxResult:
        SANDBOX_STARTS.labels(self._inner.name).inc()
        return await self._inner.run(spec)
