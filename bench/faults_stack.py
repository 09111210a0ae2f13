"""A second, private platform for the fault campaign, and the faults it takes.

Its own Kafka, PostgreSQL, Redis, OPA and OpenFGA on other ports with their own state
directory, and its own supervised gateway, workers, executors and policy engine, all started
by `soma up` itself under settings that point it there (docs/operations.md, "A second
stack"). Only the model and embedding servers (and Prometheus) are the shared stack's:
`SOMA_SHARED_SERVERS` names them, so `soma up` uses them and `soma down` leaves them alone.
Every process this module kills is named by a pid file of the private state directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from somaagent.devstack import Stack
from somaagent.devstack.process import pid_alive
from somaagent.devstack.scaling import known_services
from somaagent.devstack.service import Service
from somaagent.settings import CommonSettings, repo_root

SHARED = ["llm", "llm-small", "llm-large", "embedding", "prometheus"]
#: The private stack's ports (the shared stack's defaults + 10000, the gateway apart).
PORTS = {
    "SOMA_POSTGRES__PORT": "25432",
    "SOMA_REDIS__PORT": "26379",
    "SOMA_KAFKA__BOOTSTRAP": "127.0.0.1:29092",
    "SOMA_KAFKA__CONTROLLER_PORT": "29093",
    "SOMA_OPA__URL": "http://127.0.0.1:28181",
    "SOMA_OPENFGA__URL": "http://127.0.0.1:28280",
    "SOMA_OPENFGA__GRPC_PORT": "28281",
    "SOMA_POLICY_ENGINE__PORT": "28200",
    "SOMA_POLICY__URL": "http://127.0.0.1:28200",
    "SOMA_TOOLS__METRICS_PORT": "29102",
    "SOMA_WORKER__METRICS_PORT": "28301",
    "SOMA_GATEWAY__PORT": "28088",
}
SERVERS = ("kafka", "postgres", "redis", "opa", "openfga")
#: What of the checkout the processes read: code, migrations, seeds, policies, personas.
CODE = ("src", "migrations", "infra", "policies", "personas", "evals", "schemas")
PROCESSES = ("conversation-worker", "tool-executor", "gateway", "policy-engine")


def default_state_dir() -> Path:
    return repo_root() / ".state" / "faults-stack"


@dataclass(frozen=True)
class Fault:
    kind: str  # kill | restart
    target: str  # a process instance or a server name
    at_s: float  # seconds into the campaign
    took_s: float
    detail: str = ""


def snapshot(state: Path) -> Path:
    """Freeze the code under test: a copy of the checkout's code and data in `state`, which
    every process of the private stack runs (PYTHONPATH), so a file someone edits during
    the campaign never reaches a restarted process. Its parent links the shared datasets."""
    root = state / "code"
    shutil.rmtree(root, ignore_errors=True)
    repo = repo_root()
    for name in CODE:
        shutil.copytree(repo / name, root / "repo" / name, ignore=shutil.ignore_patterns("*.pyc"))
    (root / "shared").symlink_to((repo.parent / "shared").resolve())
    done = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(root / "repo" / "src")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the checkout does not compile now; run again:\n{done.stdout[-2000:]}")
    return root / "repo"


def private_env(state: Path, workers: int, executors: int) -> dict[str, str]:
    """The settings (environment) that point `soma` at the private stack."""
    return {
        **PORTS,
        "SOMA_STATE_DIR": str(state),
        "SOMA_SHARED_SERVERS": '["' + '", "'.join(SHARED) + '"]',
        "SOMA_PLATFORM__WORKERS": str(workers),
        "SOMA_PLATFORM__EXECUTORS": str(executors),
        # short replies on the small model keep the stream steady on two cores
        "SOMA_WORKER__ANSWER_MAX_TOKENS": "24",
        "SOMA_WORKER__GROUNDED_MAX_TOKENS": "24",
        "SOMA_WORKER__TOOL_TIMEOUT_S": "30",
        "SOMA_WORKER__SLM_EMBED_TIMEOUT_S": "2",
    }


class PrivateStack:
    """The campaign's own platform. Building it points this process's settings (its
    environment, which every `soma` command it runs inherits) at the private stack."""

    def __init__(self, state: Path, workers: int, executors: int) -> None:
        self.state = state
        os.environ.update(private_env(state, workers, executors))
        os.environ["PYTHONPATH"] = str(snapshot(state) / "src")
        self.settings = CommonSettings()

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{PORTS['SOMA_GATEWAY__PORT']}"

    def soma(self, *args: str, timeout_s: float = 1800) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "somaagent.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"soma {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def up(self) -> None:
        """(Re)start the platform's processes and supervisor on the snapshot, servers too."""
        self.soma("down", "--keep-stack", timeout_s=300)
        self.soma("up")

    def down(self) -> None:
        self.soma("down", timeout_s=300)

    def admin_key(self, tenant: str) -> str:
        out = self.soma("keys", "create", "--tenant", tenant, "--role", "admin")
        return out.strip().splitlines()[-1].strip()

    def use_profile(self, tenant: str, profile: str) -> None:
        self.soma("models", "override", tenant, "dialogue", profile)

    def stack(self) -> Stack:
        return Stack(self.settings)

    def processes(self) -> list[Service]:
        return list(known_services(self.stack().ctx))

    def instances(self, kind: str) -> list[Service]:
        return [s for s in self.processes() if s.name == kind or s.name.startswith(kind + "-")]

    def kill9(self, svc: Service) -> str:
        """SIGKILL the process group of a live instance; the supervisor starts it again."""
        pid = svc.pid()
        if pid is None or not pid_alive(pid):
            return "not running"
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"pid {pid}"

    def restart(self, name: str) -> str:
        """Stop a server the way `soma infra down` does and start it as `infra up` does."""
        svc = self.stack().service(name)
        stopped = svc.down()
        return f"{stopped}, {svc.up()}"

    def all_up(self) -> bool:
        services = [*self.stack().services, *self.processes()]
        return all(s.status().state == "up" for s in services)

    def wait_all_up(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.all_up():
                return True
            time.sleep(1.0)
        return False
