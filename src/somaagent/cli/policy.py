"""`soma policy-engine` (run the engine) and `soma audit verify` (prove the audit chain)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import uvicorn

from somaagent.adapters.postgres.audit import verify_chain_at
from somaagent.cli.common import console, err_console, load_settings, reports_errors
from somaagent.services.policy_engine import PolicyEngineSettings, create_app

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@reports_errors
def policy_engine(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 18200).")] = None,
) -> None:
    """Run the policy engine (POST /v1/evaluate on OPA + OpenFGA) with uvicorn."""
    settings = PolicyEngineSettings()
    section = settings.policy_engine
    app = create_app(settings=settings)
    uvicorn.run(
        app,
        host=host or section.host,
        port=section.port if port is None else port,
        log_level=settings.log_level,
        access_log=False,
    )


@audit_app.command()
@reports_errors
def verify(
    schema: Annotated[str | None, typer.Option(help="Schema (default from settings).")] = None,
) -> None:
    """Walk the audit chain; exit 1 naming the first row whose hash does not hold."""
    settings = load_settings()
    target = schema or settings.postgres.db_schema
    report = asyncio.run(verify_chain_at(settings.postgres.dsn(), target))
    if report.first_bad is not None:
        err_console.print(
            f"[red]audit chain broken[/red] at row seq={report.first_bad.seq} "
            f"(event_id={report.first_bad.event_id}): {report.first_bad.problem}"
        )
        raise typer.Exit(1)
    if report.rows == 0:
        console.print(f"audit log in schema {target} is empty")
        return
    console.print(f"audit chain intact: {report.rows} rows, head {report.head_hash}")


__all__ = ["audit_app", "policy_engine"]
