"""`soma up | down | status`: the whole platform (the stack, then its own processes)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from somaagent.cli.common import console, load_settings, reports_errors
from somaagent.cli.infra import print_status
from somaagent.devstack import Stack
from somaagent.devstack.platform import GatewayProcess, provision
from somaagent.devstack.prometheus import PrometheusService


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
    for svc in reversed(targets):
        console.print(f"{svc.name}: {svc.down()}")


@reports_errors
def status() -> None:
    """Every server and platform process: state, port, version; exit 1 unless all are up."""
    print_status(Stack(load_settings(), platform=True).status())
