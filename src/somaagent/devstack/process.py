"""Starting, watching and stopping the local stack's server processes.

Every process the launcher starts gets a pid file under `<state>/pids/` and a log file
under `<state>/logs/`; `down` stops only processes named by those pid files.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from somaagent.domain.errors import InfraError

HEARTBEAT_S = 15.0

#: Servers this process started, kept so they are reaped (no zombies) when they exit.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def say(message: str) -> None:
    """Progress for the operator on stderr (the launcher is a CLI, not a service)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def pid_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        # A zombie (state Z) has exited and waits for its parent to reap it, but a leader
        # thread shows Z while the process's other threads (and their sockets) still live.
        status = dict(
            line.split(":\t", 1)
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if ":\t" in line
        )
        return not (status.get("State", "").startswith("Z") and status.get("Threads") == "1")
    return True


def exit_status(pid: int) -> int | None:
    """How a child this process started ended (Popen.returncode: negative for a signal);
    None while it runs, or for a process this one did not start."""
    child = _CHILDREN.get(pid)
    return None if child is None else child.poll()


def describe_exit(pid: int) -> str:
    """`exit 1`, `killed by SIGKILL`, or why the status is unknown (not our child)."""
    code = exit_status(pid)
    if code is None:
        return "exited (status unknown: started by another launcher run)"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit {code}"


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def spawn(
    argv: Sequence[str],
    logfile: Path,
    pidfile: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start a long-running server detached from this process; record its pid."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    full = [*(["runuser", "-u", user, "--"] if user else []), *argv]
    with logfile.open("ab") as log:
        try:
            proc = subprocess.Popen(
                full,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise InfraError(f"cannot start {argv[0]}: {exc.strerror}") from exc
    _CHILDREN[proc.pid] = proc
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_pid(pid: int, name: str, grace_s: float = 20.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    say(f"{name}: did not stop within {grace_s:.0f}s, killing")
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def wait_ready(
    name: str,
    check: Callable[[], bool],
    timeout_s: float,
    logfile: Path,
    *,
    port: int | None = None,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll `check` until it passes; on failure name the service, port and log file."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise InfraError(
                f"{name} exited during start-up"
                + (f" (port {port})" if port else "")
                + f"; see {logfile}:\n{tail(logfile, 15)}"
            )
        time.sleep(0.25)
    raise InfraError(
        f"{name} not ready after {timeout_s:.0f}s"
        + (f" on 127.0.0.1:{port}" if port else "")
        + f"; see {logfile}:\n{tail(logfile, 15)}"
    )


def tail(path: Path, lines: int) -> str:
    try:
        data = path.read_bytes()[-64_000:].decode("utf-8", "replace")
    except OSError:
        return "(no log yet)"
    return "\n".join(data.splitlines()[-lines:])


def run_step(
    label: str,
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    logfile: Path | None = None,
    user: str | None = None,
    timeout_s: float = 1800.0,
) -> str:
    """Run a (possibly long) set-up command, printing a heartbeat while it works.

    Output goes to `logfile` (when given) and is returned; a failure raises InfraError
    with the command's last lines.
    """
    full = [*(["runuser", "-u", user, "--"] if user else []), *argv]
    started = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_S):
            say(f"  ... {label}: still working ({time.monotonic() - started:.0f}s)")

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        proc = subprocess.run(
            full,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError as exc:
        raise InfraError(f"{label}: {argv[0]} is not installed ({exc.strerror})") from exc
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{label}: timed out after {timeout_s:.0f}s") from exc
    finally:
        done.set()
    output = proc.stdout + proc.stderr
    if logfile is not None:
        logfile.parent.mkdir(parents=True, exist_ok=True)
        with logfile.open("a") as log:
            log.write(f"$ {' '.join(full)}\n{output}\n")
    if proc.returncode != 0:
        last = "\n".join(output.strip().splitlines()[-20:])
        raise InfraError(f"{label} failed (exit {proc.returncode}):\n{last}")
    return output
