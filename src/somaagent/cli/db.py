"""`soma db upgrade | current`: plain-SQL migrations on the stack's PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from somaagent.adapters.postgres.migrations import current as current_migrations
from somaagent.adapters.postgres.migrations import upgrade as run_upgrade
from somaagent.cli.common import console, load_settings, reports_errors
from somaagent.settings import repo_root

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)

SchemaOpt = Annotated[str | None, typer.Option(help="Schema to migrate (default from settings).")]


@db_app.command()
@reports_errors
def upgrade(schema: SchemaOpt = None) -> None:
    """Apply every pending migration in migrations/ (each exactly once)."""
    settings = load_settings()
    target = schema or settings.postgres.db_schema
    applied = asyncio.run(run_upgrade(settings.postgres.dsn(), repo_root() / "migrations", target))
    for name in applied:
        console.print(f"applied {name}")
    console.print(f"schema {target} is up to date ({len(applied)} applied)")


@db_app.command()
@reports_errors
def current(schema: SchemaOpt = None) -> None:
    """List the migrations applied to the schema."""
    settings = load_settings()
    target = schema or settings.postgres.db_schema
    for version, name in asyncio.run(current_migrations(settings.postgres.dsn(), target)):
        console.print(f"{version:03d} {name}")
