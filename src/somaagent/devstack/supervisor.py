"""The launcher's supervisor: a platform process that dies is started again, with backoff.

`soma up` starts it last, detached, as `python -m somaagent.devstack.supervisor`, with its
pid in `<state>/pids/supervisor.pid` and its log in `<state>/logs/supervisor.log`; `soma down`
stops it first, so nothing it restarts races the stop. It watches every platform process of
the recorded layout (policy engine, each tool executor, each conversation worker, gateway;
see devstack/scaling.py) that has a pid file, each in its own thread so one slow start never
delays another; `up` with another layout starts it again:

- the pid file names a live process: nothing to do (after STABLE_S up, the failure count
  goes back to 0);
- it names a dead one: the exit is recorded (`killed by SIGKILL`, `exit 1`), and after
  `backoff_s(failures)` (1, 2, 4, ... 60 s) the process is started the way `soma up` starts
  it (`Service.up`: port check, launch, wait until ready);
- a start that fails keeps its reason (`why`: port taken by a stranger, exited during
  start-up with its log's last lines, not ready in time) and waits longer before the next;
- no pid file: stopped on purpose (`soma down` removes it), left alone.

What it saw is kept in `<state>/supervisor.json` (restarts, last exit, failures, next
attempt, why), which `soma status` shows next to each process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter, ValidationError

from somaagent.devstack.process import (
    describe_exit,
    pid_alive,
    read_pid,
    say,
    spawn,
    stop_pid,
)
from somaagent.devstack.scaling import platform_services
from somaagent.devstack.service import Service, StackContext
from somaagent.domain.errors import InfraError, SomaError
from somaagent.settings import CommonSettings

NAME: Final = "supervisor"
BASE_BACKOFF_S: Final = 1.0
MAX_BACKOFF_S: Final = 60.0
#: A process up this long is healthy again: its next death is restarted after BASE_BACKOFF_S.
STABLE_S: Final = 30.0
POLL_S: Final = 0.5


class Record(BaseModel):
    """What the supervisor saw of one process (shown by `soma status`)."""

    restarts: int = 0
    last_exit: str | None = None
    last_restart_at: datetime | None = None
    #: Deaths and failed starts in a row, without STABLE_S of uptime in between.
    failures: int = 0
    next_attempt_at: datetime | None = None
    #: Why the last start failed; None once a start succeeds.
    why: str | None = None


_RECORDS = TypeAdapter(dict[str, Record])


def backoff_s(failures: int) -> float:
    """The wait before the next start after `failures` in a row (pure): 1, 2, 4, ... 60 s."""
    if failures <= 0:
        return 0.0
    return float(min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2 ** (failures - 1)))


def records_path(ctx: StackContext) -> Path:
    return ctx.state / "supervisor.json"


def read_records(ctx: StackContext) -> dict[str, Record]:
    """The supervisor's records; empty when it never ran (or the file is unreadable)."""
    try:
        return _RECORDS.validate_json(records_path(ctx).read_bytes())
    except (OSError, ValidationError):
        return {}


class RestartBook:
    """The records of every watched process, shared by the watch threads, saved atomically."""

    def __init__(self, ctx: StackContext) -> None:
        self._path = records_path(ctx)
        self._lock = threading.Lock()
        self._records = read_records(ctx)

    def get(self, name: str) -> Record:
        with self._lock:
            return self._records.get(name, Record())

    def update(self, name: str, **changes: Any) -> Record:
        with self._lock:
            record = self._records.get(name, Record()).model_copy(update=changes)
            self._records[name] = record
            tmp = self._path.with_suffix(".tmp")
            tmp.write_bytes(_RECORDS.dump_json(self._records, indent=2))
            tmp.replace(self._path)
            return record


def _after(delay_s: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=delay_s)


class Watch:
    """One platform process under supervision; `step` runs every POLL_S in its own thread."""

    def __init__(self, svc: Service, book: RestartBook) -> None:
        self.svc = svc
        self.book = book
        self.seen: int | None = None  # the live pid last seen
        self.since = time.monotonic()  # when it was first seen alive
        self.retry_at: float | None = None  # monotonic time of the next start

    def step(self) -> None:
        pid = self.svc.pid()
        if pid is None:  # stopped on purpose
            self.retry_at = None
            return
        if pid_alive(pid):
            self._alive(pid)
        elif self.retry_at is None:
            self._died(pid)
        elif time.monotonic() >= self.retry_at:
            self._restart()

    def _alive(self, pid: int) -> None:
        now = time.monotonic()
        if self.seen != pid:
            self.seen, self.since = pid, now
        elif now - self.since >= STABLE_S and self.book.get(self.svc.name).failures:
            self.book.update(self.svc.name, failures=0)

    def _died(self, pid: int) -> None:
        failures = self.book.get(self.svc.name).failures + 1
        delay = backoff_s(failures)
        exit_ = describe_exit(pid)
        self.retry_at = time.monotonic() + delay
        self.book.update(
            self.svc.name, last_exit=exit_, failures=failures, next_attempt_at=_after(delay)
        )
        say(f"{self.svc.name}: pid {pid} {exit_}; restarting in {delay:.0f}s")

    def _restart(self) -> None:
        name = self.svc.name
        try:
            self.svc.up()
        except InfraError as exc:
            self._stop_leftover()
            failures = self.book.get(name).failures + 1
            delay = backoff_s(failures)
            self.retry_at = time.monotonic() + delay
            self.book.update(
                name, failures=failures, why=exc.message, next_attempt_at=_after(delay)
            )
            say(f"{name}: could not start; next try in {delay:.0f}s: {exc.message}")
            return
        self.retry_at = None
        record = self.book.get(name)
        self.book.update(
            name,
            restarts=record.restarts + 1,
            last_restart_at=datetime.now(UTC),
            next_attempt_at=None,
            why=None,
        )
        say(f"{name}: restarted (pid {self.svc.pid()}, restart {record.restarts + 1})")

    def _stop_leftover(self) -> None:
        """A start that failed after launching (not ready in time) leaves no process behind."""
        pid = self.svc.pid()
        if pid is not None and pid_alive(pid):
            stop_pid(pid, self.svc.name, grace_s=5.0)


def watch_forever(watch: Watch, stop: threading.Event) -> None:
    while not stop.wait(POLL_S):
        try:
            watch.step()
        except (SomaError, OSError, ValueError) as exc:  # log it, keep watching
            say(f"{watch.svc.name}: supervision step failed: {exc!r}")


def supervise(ctx: StackContext, services: list[Service], stop: threading.Event) -> None:
    """Watch `services` until `stop` is set (see the module doc)."""
    book = RestartBook(ctx)
    threads = [
        threading.Thread(
            target=watch_forever, args=(Watch(svc, book), stop), name=svc.name, daemon=True
        )
        for svc in services
    ]
    for thread in threads:
        thread.start()
    say(f"supervisor: watching {', '.join(s.name for s in services)} (pid {os.getpid()})")
    stop.wait()


def running_pid(ctx: StackContext) -> int | None:
    """The supervisor's pid when it runs, else None."""
    pid = read_pid(ctx.pidfile(NAME))
    return pid if pid is not None and pid_alive(pid) else None


def start_supervisor(ctx: StackContext) -> str:
    """Start the supervisor for this state directory, unless it already runs."""
    if running_pid(ctx) is not None:
        return "already up"
    argv = [sys.executable, "-m", "somaagent.devstack.supervisor"]
    spawn(argv, ctx.logfile(NAME), ctx.pidfile(NAME))
    return "started"


def stop_supervisor(ctx: StackContext, *, keep_records: bool = False) -> str:
    """Stop the supervisor (first, so it restarts nothing `down` stops); forget its records
    unless `keep_records` (a restart for a new layout keeps the restart counts)."""
    pid = running_pid(ctx)
    ctx.pidfile(NAME).unlink(missing_ok=True)
    if not keep_records:
        records_path(ctx).unlink(missing_ok=True)
    if pid is None:
        return "not running"
    stop_pid(pid, NAME, grace_s=10.0)
    return "stopped"


def main() -> None:
    ctx = StackContext(CommonSettings())
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        supervise(ctx, list(platform_services(ctx)), done)
    say("supervisor: stopped")


if __name__ == "__main__":
    main()
