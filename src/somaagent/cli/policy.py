"""`soma policy-engine` (run the engine), `soma audit verify` (prove the audit chain) and
`soma requeue list|resolve` (held actions, through the gateway's API with an admin's key)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
import typer
import uvicorn

from somaagent.adapters.postgres.audit import verify_chain_at
from somaagent.cli.common import console, err_console, load_settings, reports_errors
from somaagent.services.policy_engine import PolicyEngineSettings, create_app
from somaagent.telemetry.sdk import start_telemetry

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
requeue_app = typer.Typer(
    help="Actions the policy held for an admin (via the gateway API).", no_args_is_help=True
)
Url = Annotated[str, typer.Option(help="Gateway base URL.")]
Key = Annotated[str, typer.Option(envvar="SOMA_API_KEY", help="API key (or SOMA_API_KEY).")]


@reports_errors
def policy_engine(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 18200).")] = None,
) -> None:
    """Run the policy engine (POST /v1/evaluate on OPA + OpenFGA) with uvicorn."""
    settings = PolicyEngineSettings()
    start_telemetry(settings, "policy-engine")
    section = settings.policy_engine
    app = create_app(settings=settings)
    uvicorn.run(
        app,
        host=host or section.host,
        port=section.port if port is None else port,
        http="httptools",  # its C parser costs less CPU per request than h11 (benchmarks.md)
        log_level=settings.log_level,
        log_config=None,  # uvicorn's own lines go through the JSON logs too
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


def _api(method: str, url: str, key: str, path: str, body: dict[str, Any] | None = None) -> Any:
    if not key:
        raise typer.BadParameter("an API key is needed: --key or SOMA_API_KEY")
    headers = {"Authorization": f"Bearer {key}"}
    r = httpx.request(method, url.rstrip("/") + path, json=body, headers=headers, timeout=30)
    data = r.json()
    if r.status_code >= 400:
        err_console.print(
            f"[red]{r.status_code} {data['error']['code']}:[/red] {data['error']['message']}"
        )
        raise typer.Exit(1)
    return data


@requeue_app.command("list")
def requeue_list(
    url: Url = "http://127.0.0.1:8080",
    key: Key = "",
    status: Annotated[str | None, typer.Option(help="pending, released, denied, ...")] = None,
) -> None:
    """The tenant's held actions, newest first: id, status, action, resource, why."""
    params = f"?status={status}" if status else ""
    for item in _api("GET", url, key, f"/v1/policy/requeue{params}"):
        why = "; ".join(item["verdict"]["reasons"])
        console.print(
            f"{item['id']}  {item['status']}  {item['request']['action']}  "
            f"{item['request']['resource']}  {why}",
            highlight=False,
            markup=False,
        )


@requeue_app.command("resolve")
def requeue_resolve(
    item_id: Annotated[str, typer.Argument(help="The held item's id (soma requeue list).")],
    decision: Annotated[str, typer.Option(help="allow, deny or re-evaluate.")],
    reason: Annotated[str, typer.Option(help="Why (it goes into the audit log).")],
    url: Url = "http://127.0.0.1:8080",
    key: Key = "",
) -> None:
    """Resolve a held action as an admin of its tenant."""
    body = {"decision": decision, "reason": reason}
    item = _api("POST", url, key, f"/v1/policy/requeue/{item_id}/resolve", body)
    console.print(f"{item['id']} {item['status']}", highlight=False, markup=False)


__all__ = ["audit_app", "policy_engine", "requeue_app"]
