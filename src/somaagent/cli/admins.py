"""`soma admins grant|revoke|list`: a tenant's admins, the OpenFGA relation that decides.

For the operator, on the platform's own OpenFGA (like `soma keys`, which talks to the
database). `soma keys create --role admin` grants the relation too. An admin's key can do
the same over HTTP (/v1/admins).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import redis.asyncio as aioredis
import typer

from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.redis.policy_epoch import RedisPolicyEpoch
from somaagent.application.policy.admins import TenantAdmins
from somaagent.cli.common import console, load_settings, logs_to_stderr, reports_errors

admins_app = typer.Typer(
    help="Tenant admins (OpenFGA: user admin tenant); they resolve held actions.",
    no_args_is_help=True,
)

T = TypeVar("T")
Tenant = Annotated[str, typer.Option(help="The tenant.")]
Subject = Annotated[str, typer.Option(help="The user (the subject its API keys carry).")]


def with_admins(use: Callable[[TenantAdmins], Awaitable[T]]) -> T:
    logs_to_stderr()

    async def run() -> T:
        settings = load_settings()
        redis = aioredis.Redis(
            host=settings.redis.host, port=settings.redis.port, db=settings.redis.db
        )
        epoch = RedisPolicyEpoch(redis, key_prefix=settings.redis.key_prefix)
        try:
            async with OpenFgaClient(settings.openfga, on_change=epoch.bump) as fga:
                return await use(TenantAdmins(fga))
        finally:
            await redis.aclose()

    return asyncio.run(run())


@admins_app.command("grant")
@reports_errors
def grant(tenant: Tenant, subject: Subject) -> None:
    """Make SUBJECT an admin of TENANT."""
    with_admins(lambda admins: admins.grant(tenant, subject, actor="cli"))
    console.print(f"{subject} is an admin of tenant {tenant}")


@admins_app.command("revoke")
@reports_errors
def revoke(tenant: Tenant, subject: Subject) -> None:
    """Revoke SUBJECT's admin relation (refused for the tenant's last admin)."""
    with_admins(lambda admins: admins.revoke(tenant, subject, actor="cli"))
    console.print(f"{subject} is no longer an admin of tenant {tenant}")


@admins_app.command("list")
@reports_errors
def list_admins(tenant: Tenant) -> None:
    """The admins of TENANT, one a line."""
    for subject in with_admins(lambda admins: admins.list(tenant)):
        console.print(subject, highlight=False, markup=False)
