"""The platform's own processes, run locally by the same launcher as the stack.

`soma up` provisions (migrations, model profiles, SLM artefacts, the search corpus) and then
starts the policy engine, the tool executors, the conversation workers and the gateway, each
as `soma <command>` with its log under `<state>/logs/` and a pid file, like the servers.

Workers and executors scale out (`soma up --workers N --executors M`, or
`SOMA_PLATFORM__WORKERS` / `__EXECUTORS`): instance 0 keeps the kind's name and port, instance
i is `<name>-<i+1>` with its metrics port at the kind's port + i. Every instance of a kind
joins the kind's one consumer group. The layout `up` started is kept in
`<state>/platform.json`, which `status`, `down` and the supervisor read.
"""

from __future__ import annotations

import sys
from importlib.metadata import version as package_version

import httpx

from somaagent.devstack.process import port_open, run_step, say
from somaagent.devstack.service import Service, StackContext
from somaagent.services.conversation_worker.settings import WorkerSettings
from somaagent.services.gateway.settings import GatewaySettings
from somaagent.services.policy_engine.settings import PolicyEngineSettings
from somaagent.services.tool_executor.settings import ToolExecutorSettings


def soma_argv(*args: str) -> list[str]:
    """`soma ...` from the running interpreter's environment (the project's .venv)."""
    return [sys.executable, "-m", "somaagent.cli.main", *args]


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class PlatformProcess(Service):
    """A long-running `soma` command; ready when its port answers."""

    command: tuple[str, ...] = ()
    health_path: str | None = None
    ready_timeout_s = 120.0
    #: The setting that moves this process's port, for kinds that run several instances.
    port_env: str | None = None

    def __init__(self, ctx: StackContext, index: int = 0) -> None:
        super().__init__(ctx)
        self.index = index
        self.name = instance_name(type(self).name, index)

    @property
    def base_port(self) -> int:
        return 0

    @property
    def port(self) -> int:
        return self.base_port + self.index

    def install(self) -> None:
        """Nothing to install: it runs from the project's virtualenv."""

    def launch(self) -> None:
        env = {self.port_env: str(self.port)} if self.port_env else None
        self.spawn(soma_argv(*self.command), env=env)

    def ready(self) -> bool:
        if self.health_path is None:
            return port_open("127.0.0.1", self.port)
        return _http_ok(f"http://127.0.0.1:{self.port}{self.health_path}")

    def version(self) -> str:
        return f"somaagent {package_version('somaagent')}"


def instance_name(kind: str, index: int) -> str:
    """`conversation-worker`, `conversation-worker-2`, ... (instance 0 keeps the kind's name)."""
    return kind if index == 0 else f"{kind}-{index + 1}"


class PolicyEngineProcess(PlatformProcess):
    name = "policy-engine"
    command = ("policy-engine",)
    health_path = "/healthz"

    @property
    def base_port(self) -> int:
        return PolicyEngineSettings().policy_engine.port


class ToolExecutorProcess(PlatformProcess):
    name = "tool-executor"
    command = ("worker", "tools")
    port_env = "SOMA_TOOLS__METRICS_PORT"

    @property
    def base_port(self) -> int:  # its /metrics
        return ToolExecutorSettings().tools.metrics_port


class ConversationWorkerProcess(PlatformProcess):
    name = "conversation-worker"
    command = ("worker", "conversation")
    port_env = "SOMA_WORKER__METRICS_PORT"

    @property
    def base_port(self) -> int:  # its /metrics
        return WorkerSettings().worker.metrics_port


class GatewayProcess(PlatformProcess):
    name = "gateway"
    command = ("gateway",)
    health_path = "/healthz"

    @property
    def base_port(self) -> int:
        return GatewaySettings().gateway.port


PLATFORM_TYPES: tuple[type[Service], ...] = (
    PolicyEngineProcess,
    ToolExecutorProcess,
    ConversationWorkerProcess,
    GatewayProcess,
)


def provision(ctx: StackContext) -> None:
    """Idempotent set-up the processes rely on; each step is a `soma` command."""
    log = ctx.logfile("provision")
    say("platform: migrations and model profiles")
    run_step("soma db upgrade", soma_argv("db", "upgrade"), logfile=log, timeout_s=300)
    run_step("soma models seed", soma_argv("models", "seed"), logfile=log, timeout_s=120)
    say("slm: the default persona's classifiers (trained when missing or stale)")
    run_step(
        "soma slm train --if-stale",
        soma_argv("slm", "train", "--if-stale"),
        logfile=log,
        timeout_s=3600,
    )
    say("search: the local corpus (python3-doc; indexed once)")
    run_step(
        "soma search index --if-empty",
        soma_argv("search", "index", "--if-empty"),
        logfile=log,
        timeout_s=1800,
    )
