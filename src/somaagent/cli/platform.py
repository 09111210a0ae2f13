"""`soma up | down | status`: the whole platform (the stack, then its own processes).

`soma up` ends by starting the supervisor (devstack/supervisor.py), which restarts a platform
process that dies; `soma down` stops it first; `soma status` shows what it saw.
`soma up --workers N --executors M` runs N conversation workers and M tool executors
(devstack/scaling.py).
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from somaagent.cli.common import console, load_settings, reports_errors
from somaagent.cli.infra import print_status
from somaagent.devstack import Stack, StackContext
from somaagent.devstack.platform import GatewayProcess, provision
from somaagent.devstack.prometheus import PrometheusService
from somaagent.devstack.scaling import known_services, read_layout, scale_to
from somaagent.devstack.supervisor import (
    read_records,
    running_pid,
    start_supervisor,
    stop_supervisor,
)

Count = Annotated[int | None, typer.Option(min=0, max=32)]


@reports_errors
def up(
    workers: Count = None,
    executors: Count = None,
) -> None:
    """Start the stack, provision it, then the policy engine, executors, workers and gateway
    (--workers / --executors, default SOMA_PLATFORM__WORKERS / __EXECUTORS, 1 each)."""
    started = time.monotonic()
    settings = load_settings()
    Stack(settings).up()
    platform = Stack(settings, platform=True)
    provision(platform.ctx)
    layout = settings.platform.model_copy(
        update={
            k: v for k, v in {"workers": workers, "executors": executors}.items() if v is not None
        }
    )
    if read_layout(platform.ctx) != layout:  # the supervisor watches the layout it started with
        console.print(f"supervisor: {stop_supervisor(platform.ctx, keep_records=True)}")
    for name, result in scale_to(platform.ctx, layout).items():
        console.print(f"{name}: {result}")
    console.print(f"supervisor: {start_supervisor(platform.ctx)}")
    console.print(f"prometheus: {PrometheusService(platform.ctx).reload()} (every instance)")
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
    stack = Stack(load_settings())
    targets = [*([] if keep_stack else stack.services), *known_services(stack.ctx)]
    console.print(f"supervisor: {stop_supervisor(stack.ctx)}")
    for svc in reversed(targets):
        console.print(f"{svc.name}: {svc.down()}")


@reports_errors
def status() -> None:
    """Every server and platform process: state, port, version; the supervisor's restarts;
    exit 1 unless all are up."""
    stack = Stack(load_settings())
    try:
        print_status(stack.status() + [s.status() for s in known_services(stack.ctx)])
    finally:  # print_status exits 1 when a service is not up: show the restarts anyway
        print_supervision(stack.ctx)


def print_supervision(ctx: StackContext) -> None:
    """Each platform process's restarts, last exit and why its last start failed."""
    pid = running_pid(ctx)
    console.print(f"supervisor: {'up (pid ' + str(pid) + ')' if pid else 'not running'}")
    records = read_records(ctx)
    table = Table("process", "restarts", "last exit", "next start", "why")
    for name in (s.name for s in known_services(ctx)):
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
