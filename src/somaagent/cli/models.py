"""`soma models [list] | seed | override`: the model profiles stored in PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from somaagent.adapters.postgres.migrations import quote_ident
from somaagent.adapters.postgres.model_profiles import PostgresModelProfileStore
from somaagent.adapters.postgres.pool import open_pool
from somaagent.application import model_profiles
from somaagent.cli.common import console, load_settings, reports_errors
from somaagent.domain.llm import MODEL_ROLES
from somaagent.settings import CommonSettings, repo_root

models_app = typer.Typer(help="Model profiles (seeded from infra/models/profiles.yaml).")

T = TypeVar("T")
SchemaOpt = Annotated[str | None, typer.Option(help="Schema (default from settings).")]
DEFAULT_SEED = repo_root() / "infra" / "models" / "profiles.yaml"


def seed_urls(settings: CommonSettings) -> dict[str, str]:
    """What the {placeholders} in profiles.yaml mean on this stack."""
    return {
        "dialogue_url": settings.llm.dialogue_url(),
        "fallback_url": settings.llm.fallback_url(),
        "large_url": settings.llm.large_url(),
        "embedding_url": settings.embedding.url().rstrip("/") + "/v1",
    }


def with_store(
    settings: CommonSettings,
    schema: str | None,
    work: Callable[[PostgresModelProfileStore], Awaitable[T]],
) -> T:
    async def run() -> T:
        quote_ident(schema or settings.postgres.db_schema)  # a plain identifier, or an error
        pg = settings.postgres.model_copy(
            update={
                "db_schema": schema or settings.postgres.db_schema,
                "pool_min": 1,
                "pool_max": 2,
            }
        )
        pool = await open_pool(pg)
        try:
            return await work(PostgresModelProfileStore(pool))
        finally:
            await pool.close()

    return asyncio.run(run())


@models_app.callback(invoke_without_command=True)
@reports_errors
def show(ctx: typer.Context, schema: SchemaOpt = None) -> None:
    """List every profile: role, model, endpoint, parameters, fallback chain, overrides."""
    if ctx.invoked_subcommand is not None:
        return
    rows = with_store(load_settings(), schema, model_profiles.summary)
    table = Table(
        "name", "role", "model", "base_url", "key", "temp", "max_tok", "ctx", "fallback", "for"
    )
    for row in rows:
        star = " *" if row["is_default"] else ""
        table.add_row(
            f"{row['name']}{star}",
            row["role"],
            row["model"],
            row["base_url"],
            row["api_key_env"] or "-",
            f"{row['temperature']:g}",
            str(row["max_tokens"]),
            str(row["context_window"]),
            " -> ".join(row["fallback"]) or "-",
            ", ".join(row["override_tenants"]) or "-",
        )
    console.print(table)
    console.print(
        "* the role's default; `key`: the environment variable holding the endpoint's API"
        " key; `for`: tenants whose override selects it"
    )


@models_app.command()
@reports_errors
def seed(
    file: Annotated[Path, typer.Option(help="Seed file.")] = DEFAULT_SEED,
    schema: SchemaOpt = None,
) -> None:
    """Write the profiles and overrides of the seed file (idempotent)."""
    settings = load_settings()
    loaded = model_profiles.parse_seed(file.read_text(), seed_urls(settings))

    async def work(store: PostgresModelProfileStore) -> int:
        return await model_profiles.seed(store, loaded)

    changed = with_store(settings, schema, work)
    console.print(f"{len(loaded.profiles)} profiles seeded from {file.name} ({changed} changed)")


@models_app.command()
@reports_errors
def override(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    role: Annotated[str, typer.Argument(help=", ".join(MODEL_ROLES))],
    profile: Annotated[str, typer.Argument(help="Profile name.")],
    schema: SchemaOpt = None,
) -> None:
    """Make one tenant use another profile for one role."""
    value: dict[str, Any] = {"tenant_id": tenant, "role": role, "profile": profile}
    loaded = model_profiles.parse_override(value)

    async def work(store: PostgresModelProfileStore) -> None:
        await store.set_override(loaded)

    with_store(load_settings(), schema, work)
    console.print(f"tenant {tenant} now uses {profile} for {role}")


__all__ = ["models_app", "seed_urls"]
