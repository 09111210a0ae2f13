"""`soma up | down | status`: the whole platform (the stack, then its own processes).

`soma up` ends by starting the supervisor (devstack/supervisor.py), which restarts a platform
process that dies; `soma down` stops it first; `soma status` shows what it saw.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from somaagent.cli.common import console, load_settings, reports_errors
from somaagent.cli.infra import print_status
from somaagent.devstack import Stack, StackContext
from somaagent.devstack.platform import PLATFORM_TYPES, GatewayProcess, provision
from somaagent.devstack.prometheus import PrometheusService
from somaagent.devstack.supervisor import (
    read_records,
    running_pid,
    start_supervisor,
    stop_supervisor,
)


@reports_errors
def up() -> None:
    """Start the stack, provision it, then the policy engine, workers and gateway."""
    started = time.monotonic()
    settings = load_settings()
    Stack(settings).up()
    platform = Stack(settings, platform=True)
    provision(platform.ctx)
    for svc in platform.services[len(Stack(settings).services) :]:
        console.print(f"{svc.name}: {svc.up()}")
    console.print(f"supervisor: {start_supervisor(platform.ctx)}")
    gateway = platform.service(GatewayProcess.name)
    console.print(f"platform up in {time.monotonic() - started:.1f}s")
    console.print(f"open http://127.0.0.1:{gateway.port}/  (create a key: soma keys create)")
    prometheus = platform.service(PrometheusService.name)
    console.print(f"metrics and alerts: http://127.0.0.1:{prometheus.port}/  (Prometheus)")


@reports_errors
def provision_command() -> None:
    """Migrations, model profiles, SLM artefacts and the search corpus (idempotent)."""
    provision(Stack(load_settings()).ctx)
    console.print("provisioned")


@reports_errors
def down(
    keep_stack: Annotated[bool, typer.Option(help="Stop only the platform's processes.")] = False,
) -> None:
    """Stop everything this launcher started (or only the platform's own processes)."""
    settings = load_settings()
    platform = Stack(settings, platform=True)
    infra_count = len(Stack(settings).services)
    targets = platform.services[infra_count:] if keep_stack else platform.services
    console.print(f"supervisor: {stop_supervisor(platform.ctx)}")
    for svc in reversed(targets):
        console.print(f"{svc.name}: {svc.down()}")


@reports_errors
def status() -> None:
    """Every server and platform process: state, port, version; the supervisor's restarts;
    exit 1 unless all are up."""
    stack = Stack(load_settings(), platform=True)
    try:
        print_status(stack.status())
    finally:  # print_status exits 1 when a service is not up: show the restarts anyway
        print_supervision(stack.ctx)


def print_supervision(ctx: StackContext) -> None:
    """Each platform process's restarts, last exit and why its last start failed."""
    pid = running_pid(ctx)
    console.print(f"supervisor: {'up (pid ' + str(pid) + ')' if pid else 'not running'}")
    records = read_records(ctx)
    table = Table("process", "restarts", "last exit", "next start", "why")
    for name in (t.name for t in PLATFORM_TYPES):
        r = records.get(name)
        if r is None:
            table.add_row(name, "0", "-", "-", "-")
            continue
        at = r.next_attempt_at.strftime("%H:%M:%S") if r.next_attempt_at else "-"
        table.add_row(name, str(r.restarts), r.last_exit or "-", at, _short(r.why))
    console.print(table)


def _short(why: str | None) -> str:
    """The reason's first line (it names the log) and its last (the log's last line)."""
    if not why:
        return "-"
    lines = [line for line in why.splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else f"{lines[0]}\n… {lines[-1]}"
