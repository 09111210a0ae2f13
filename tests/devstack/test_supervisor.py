"""The launcher's supervisor restarts a platform process that dies, with backoff, and says
why a start failed; `soma status` shows both.

Everything runs in a state directory of the test's own, with the policy engine on a free
port (it reads the shared OPA and OpenFGA, and consumes nothing): the launcher starts it
the way `soma up` does, then starts the supervisor; the test kills only the processes named
by its own pid files, never the shared stack's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from somaagent.devstack.platform import PolicyEngineProcess
from somaagent.devstack.process import pid_alive, port_open, read_pid
from somaagent.devstack.service import StackContext
from somaagent.devstack.supervisor import Record, backoff_s, read_records, stop_supervisor
from somaagent.settings import CommonSettings

NAME = PolicyEngineProcess.name
SOMA = str(Path(sys.executable).with_name("soma"))
LAUNCH = (
    "from somaagent.devstack.platform import PolicyEngineProcess\n"
    "from somaagent.devstack.service import StackContext\n"
    "from somaagent.devstack.supervisor import start_supervisor\n"
    "from somaagent.settings import CommonSettings\n"
    "ctx = StackContext(CommonSettings())\n"
    "print(PolicyEngineProcess(ctx).up(), start_supervisor(ctx))\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_backoff_doubles_from_one_second_up_to_a_minute() -> None:
    assert [backoff_s(n) for n in range(9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


class Launched:
    """The policy engine and the supervisor, started in the test's state directory."""

    def __init__(self, state: Path, port: int) -> None:
        self.ctx = StackContext(CommonSettings(state_dir=state))
        self.port = port
        self.env = {**os.environ, "SOMA_STATE_DIR": str(state)}
        self.env["SOMA_POLICY_ENGINE__PORT"] = str(port)

    def pid(self) -> int:
        pid = read_pid(self.ctx.pidfile(NAME))
        assert pid is not None
        return pid

    def record(self) -> Record:
        return read_records(self.ctx).get(NAME, Record())

    def kill9(self) -> int:
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pid

    def status(self) -> str:
        """The supervisor's table of `soma status` (the stack table above it is the shared
        servers' and answers "foreign" from this state directory)."""
        env = {**self.env, "COLUMNS": "400"}  # one table row per line
        done = subprocess.run(
            [SOMA, "status"], check=False, env=env, capture_output=True, text=True, timeout=120
        )
        return done.stdout.split("\nsupervisor: ", 1)[1]


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[Launched]:
    run = Launched(tmp_path, free_port())
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH],
        check=False,
        env=run.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["started", "started"]
    yield run
    stop_supervisor(run.ctx)
    PolicyEngineProcess(run.ctx).down()


async def until(check: Callable[[], bool], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


def status_row(table: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(f"│ {NAME} "))


async def test_a_killed_process_is_restarted_and_counted(launched: Launched) -> None:
    first = await asyncio.to_thread(launched.kill9)
    await until(lambda: launched.record().restarts == 1)
    second = launched.pid()
    assert second != first and pid_alive(second) and port_open("127.0.0.1", launched.port)
    assert launched.record().last_exit is not None

    # killed again within STABLE_S: the supervisor started it, so it knows how it ended
    await asyncio.to_thread(launched.kill9)
    await until(lambda: launched.record().restarts == 2)
    record = launched.record()
    assert (record.last_exit, record.failures, record.why) == ("killed by SIGKILL", 2, None)
    assert port_open("127.0.0.1", launched.port)
    table = await asyncio.to_thread(launched.status)
    assert table.startswith("up (pid "), table
    cells = [c.strip() for c in status_row(table).split("│")[1:-1]]
    assert cells[:3] == [NAME, "2", "killed by SIGKILL"], cells


async def test_a_start_that_fails_says_why_and_is_retried(launched: Launched) -> None:
    await asyncio.to_thread(launched.kill9)
    with socket.socket() as squatter:  # a stranger takes the port before the restart
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", launched.port))
        squatter.listen()
        await until(lambda: launched.record().why is not None)
        why = launched.record().why
        assert why is not None and "taken by a process this launcher did not start" in why
        assert launched.record().restarts == 0
        row = status_row(await asyncio.to_thread(launched.status))
        assert "taken by a process" in row, row
    # the stranger left: the next attempt (after a longer backoff) succeeds
    await until(lambda: launched.record().restarts == 1)
    assert launched.record().why is None
    assert port_open("127.0.0.1", launched.port)
