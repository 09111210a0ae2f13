"""`soma infra up | down | status | logs`: the local stack on loopback."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from somaagent.cli.common import console, load_settings, reports_errors
from somaagent.devstack import ServiceStatus, Stack

infra_app = typer.Typer(help="Start, stop and inspect the local stack.", no_args_is_help=True)

OnlyOpt = Annotated[list[str] | None, typer.Option("--only", help="Limit to these services.")]

_STATE_STYLE = {
    "up": "green",
    "starting": "yellow",
    "down": "dim",
    "stale": "red",
    "foreign": "red",
}


@infra_app.command()
@reports_errors
def up(only: OnlyOpt = None) -> None:
    """Install what is missing and start every service (a no-op for those already up)."""
    started = time.monotonic()
    Stack(load_settings(), only).up()
    console.print(f"stack up in {time.monotonic() - started:.1f}s")


@infra_app.command()
@reports_errors
def down(only: OnlyOpt = None) -> None:
    """Stop the services this launcher started (and nothing else)."""
    for name, result in Stack(load_settings(), only).down().items():
        console.print(f"{name}: {result}")


@infra_app.command()
@reports_errors
def status(only: OnlyOpt = None) -> None:
    """Each service's state, port and version; exit 1 unless all are up."""
    print_status(Stack(load_settings(), only).status())


def print_status(rows: list[ServiceStatus]) -> None:
    """A table of service states; exit 1 unless every row is up."""
    table = Table("service", "state", "port", "version")
    for row in rows:
        style = _STATE_STYLE.get(row.state, "")
        table.add_row(row.name, f"[{style}]{row.state}[/{style}]", str(row.port), row.version)
    console.print(table)
    if any(r.state != "up" for r in rows):
        raise typer.Exit(1)


@infra_app.command()
@reports_errors
def logs(
    service: Annotated[str, typer.Argument(help="kafka, postgres, redis, opa, openfga, ...")],
    lines: Annotated[int, typer.Option("-n", "--lines")] = 50,
    follow: Annotated[bool, typer.Option("-f", "--follow")] = False,
) -> None:
    """Show the tail of one service's log (with -f, keep following it)."""
    svc = Stack(load_settings()).service(service)
    console.print(svc.log_tail(lines), markup=False, highlight=False)
    if not follow:
        return
    with svc.logfile.open("r", errors="replace") as handle:
        handle.seek(0, 2)
        while True:
            line = handle.readline()
            if line:
                console.print(line.rstrip("\n"), markup=False, highlight=False)
            else:
                time.sleep(0.3)
