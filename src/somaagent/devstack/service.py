"""The shape every server of the local stack shares, and the context they run in."""

from __future__ import annotations

import os
import pwd
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from somaagent.devstack.process import (
    pid_alive,
    port_open,
    read_pid,
    run_step,
    say,
    spawn,
    stop_pid,
    tail,
    wait_ready,
)
from somaagent.domain.errors import InfraError
from somaagent.settings import CommonSettings, repo_root


@dataclass(frozen=True)
class StackContext:
    settings: CommonSettings

    @property
    def state(self) -> Path:
        return self.settings.state_dir.resolve()

    @property
    def cache(self) -> Path:
        return self.settings.cache_dir.resolve()

    @property
    def repo(self) -> Path:
        return repo_root()

    def logfile(self, name: str) -> Path:
        return self.state / "logs" / f"{name}.log"

    def pidfile(self, name: str) -> Path:
        return self.state / "pids" / f"{name}.pid"

    def data(self, name: str) -> Path:
        path = self.state / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # up | down | foreign | stale
    port: int
    version: str
    detail: str = ""


def require_root_for(what: str) -> None:
    if os.geteuid() != 0:
        raise InfraError(f"{what} must be installed and this launcher is not root; install it")


def apt_install(packages: list[str], ctx: StackContext) -> None:
    """Install Debian packages (once) when a binary the stack needs is missing."""
    require_root_for(" ".join(packages))
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    marker = ctx.cache / "apt-updated"
    if not marker.exists():
        say("apt: updating package lists")
        run_step("apt-get update", ["apt-get", "update", "-q"], env=env, timeout_s=600)
        ctx.cache.mkdir(parents=True, exist_ok=True)
        marker.touch()
    say(f"apt: installing {' '.join(packages)}")
    run_step(
        f"apt-get install {' '.join(packages)}",
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        env=env,
        timeout_s=1200,
        logfile=ctx.logfile("install"),
    )


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class Service(ABC):
    """One server of the local stack. Subclasses fill in the specifics."""

    name: str = ""
    ready_timeout_s: float = 60.0

    def __init__(self, ctx: StackContext) -> None:
        self.ctx = ctx

    @property
    @abstractmethod
    def port(self) -> int: ...

    @abstractmethod
    def install(self) -> None:
        """Make the binaries available (idempotent, cached)."""

    @abstractmethod
    def launch(self) -> None:
        """Start the server process (the pid file must name it afterwards)."""

    @abstractmethod
    def ready(self) -> bool:
        """True when the server answers real requests."""

    @abstractmethod
    def version(self) -> str: ...

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """One-time data set-up before the first start (initdb, storage format)."""

    def after_start(self) -> None:  # noqa: B027 - optional hook
        """Idempotent provisioning once ready (topics, databases, stores)."""

    # -- shared behaviour -------------------------------------------------
    @property
    def logfile(self) -> Path:
        return self.ctx.logfile(self.name)

    @property
    def pidfile(self) -> Path:
        return self.ctx.pidfile(self.name)

    def pid(self) -> int | None:
        return read_pid(self.pidfile)

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def spawn(
        self, argv: list[str], env: dict[str, str] | None = None, user: str | None = None
    ) -> None:
        spawn(argv, self.logfile, self.pidfile, env=env, user=user)

    @property
    def shared(self) -> bool:
        """Run by another launcher (SOMA_SHARED_SERVERS): used, never started or stopped."""
        return self.name in self.ctx.settings.shared_servers

    def _use_shared(self) -> str:
        if not self.ready():
            raise InfraError(
                f"{self.name}: shared server on 127.0.0.1:{self.port} does not answer; "
                "start it with the launcher that owns it (SOMA_SHARED_SERVERS names it)"
            )
        return "shared, up"

    def up(self) -> str:
        if self.shared:
            return self._use_shared()
        if self.running():  # ours, maybe still loading or too busy to answer at once:
            self._wait_ready()  # wait for it; a second copy would take its pid file
            self.after_start()
            return "already up"
        if not self.running() and self.pid() is not None:
            self._wait_port_closed()  # the process we started may still be exiting
        if not self.running() and port_open("127.0.0.1", self.port):
            raise InfraError(
                f"{self.name}: port {self.port} on 127.0.0.1 is taken by a process this "
                f"launcher did not start; stop it or move {self.name} to another port "
                "(see docs/operations.md)"
            )
        self.install()
        self.prepare()
        say(f"{self.name}: starting on 127.0.0.1:{self.port} (log {self.logfile})")
        self.launch()
        self._wait_ready()
        self.after_start()
        return "started"

    def _wait_ready(self) -> None:
        wait_ready(
            self.name,
            self.ready,
            self.ready_timeout_s,
            self.logfile,
            port=self.port,
            alive=self.running,
        )

    def _wait_port_closed(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while port_open("127.0.0.1", self.port) and time.monotonic() < deadline:
            time.sleep(0.2)

    def down(self) -> str:
        if self.shared:
            return "shared, left alone"
        pid = self.pid()
        if pid is None:
            return "not started by this launcher"
        if pid_alive(pid):
            stop_pid(pid, self.name)
        self.pidfile.unlink(missing_ok=True)
        return "stopped"

    def status(self) -> ServiceStatus:
        if self.shared:
            state = "up" if self.ready() else "down"
        elif self.running():
            state = "up" if self.ready() else "starting"
        elif port_open("127.0.0.1", self.port):
            state = "foreign"
        elif self.pid() is not None:
            state = "stale"
        else:
            state = "down"
        try:
            version = self.version()
        except InfraError as exc:
            version = f"? ({exc.message})"
        return ServiceStatus(self.name, state, self.port, version)

    def log_tail(self, lines: int) -> str:
        return tail(self.logfile, lines)
