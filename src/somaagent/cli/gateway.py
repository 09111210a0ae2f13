"""`soma gateway` (serve the HTTP API, WebSocket stream and web client) and `soma keys`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import redis.asyncio as aioredis
import structlog
import typer
import uvicorn
from pydantic import ValidationError as PydanticValidationError

from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.postgres.pool import open_pool
from somaagent.adapters.redis.policy_epoch import RedisPolicyEpoch
from somaagent.application.policy.admins import TenantAdmins
from somaagent.cli.common import console, err_console, logs_to_stderr, reports_errors
from somaagent.services.gateway import GatewaySettings, create_app
from somaagent.telemetry.sdk import start_telemetry

keys_app = typer.Typer(help="API keys: each names a tenant and a role.", no_args_is_help=True)


def load_gateway_settings() -> GatewaySettings:
    try:
        return GatewaySettings()
    except PydanticValidationError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@reports_errors
def gateway(
    host: Annotated[str | None, typer.Option(help="Bind address (SOMA_GATEWAY__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SOMA_GATEWAY__PORT).")] = None,
) -> None:
    """Run the gateway: HTTP API, WebSocket stream and web client (default 127.0.0.1:8080)."""
    settings = load_gateway_settings()
    section = settings.gateway.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    settings = settings.model_copy(update={"gateway": section})
    start_telemetry(settings, "gateway")
    structlog.get_logger(__name__).info(
        "gateway.starting", url=f"http://{section.host}:{section.port}/"
    )
    uvicorn.run(
        create_app(settings),
        host=section.host,
        port=section.port,
        http="httptools",
        ws="websockets-sansio",
        log_level=settings.log_level,
        log_config=None,  # uvicorn's own lines go through the JSON logs too
        access_log=False,  # /metrics counts requests; access lines would carry ?key= secrets
        proxy_headers=False,
    )


async def _create_key(settings: GatewaySettings, tenant: str, role: str, subject: str) -> str:
    """A key; role admin first makes `subject` an admin of the tenant in OpenFGA."""
    pool = await open_pool(settings.postgres)
    redis = aioredis.Redis(host=settings.redis.host, port=settings.redis.port, db=settings.redis.db)
    epoch = RedisPolicyEpoch(redis, key_prefix=settings.redis.key_prefix)
    try:
        async with OpenFgaClient(settings.openfga, on_change=epoch.bump) as fga:
            admins = TenantAdmins(fga)
            key, _ = await admins.issue_key(ApiKeyStore(pool), tenant, role, subject, actor="cli")
    finally:
        await pool.close()
        await redis.aclose()
    return key


async def _revoke_key(settings: GatewaySettings, prefix: str) -> int:
    pool = await open_pool(settings.postgres)
    try:
        return await ApiKeyStore(pool).revoke(prefix)
    finally:
        await pool.close()


@keys_app.command("create")
@reports_errors
def create_key(
    tenant: Annotated[str, typer.Option(help="Tenant the key speaks for.")],
    role: Annotated[
        str, typer.Option(help="user or admin (admin makes SUBJECT an admin of the tenant).")
    ] = "user",
    subject: Annotated[str, typer.Option(help="Who holds the key (for audit).")] = "cli",
) -> None:
    """Create a key and print it once (only its SHA-256 is stored)."""
    logs_to_stderr()
    key = asyncio.run(_create_key(load_gateway_settings(), tenant, role, subject))
    err_console.print(f"key for tenant {tenant} ({role}); shown once, store it now:")
    console.print(key, soft_wrap=True, highlight=False, markup=False, emoji=False)


@keys_app.command("revoke")
@reports_errors
def revoke_key(
    prefix: Annotated[str, typer.Argument(help="The key's first 12 characters.")],
) -> None:
    """Revoke a key by its prefix."""
    count = asyncio.run(_revoke_key(load_gateway_settings(), prefix))
    console.print(f"revoked {count} key(s)")
