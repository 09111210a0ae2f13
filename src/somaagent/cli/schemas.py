"""`soma schemas export | check`: the JSON Schema files of every event type in schemas/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from somaagent.cli.common import console, reports_errors
from somaagent.domain.errors import ValidationError
from somaagent.domain.json_schemas import all_schemas
from somaagent.settings import repo_root

schemas_app = typer.Typer(help="JSON Schema of every event type.", no_args_is_help=True)

DirOpt = Annotated[Path | None, typer.Option(help="Directory (default: schemas/ of the repo).")]


def stale_files(directory: Path) -> list[str]:
    """Names of schema files that are missing, differ from the code, or are left over."""
    wanted = all_schemas()
    present = {p.name for p in directory.glob("*.json")} if directory.is_dir() else set()
    stale = [
        n for n, text in wanted.items() if n not in present or (directory / n).read_text() != text
    ]
    return sorted(stale + [n for n in present if n not in wanted])


@schemas_app.command()
@reports_errors
def export(directory: DirOpt = None) -> None:
    """Write schemas/<type>.v<version>.json for every registered event type."""
    target = directory or repo_root() / "schemas"
    target.mkdir(parents=True, exist_ok=True)
    wanted = all_schemas()
    for name, text in wanted.items():
        (target / name).write_text(text)
    for old in target.glob("*.json"):
        if old.name not in wanted:
            old.unlink()
    console.print(f"wrote {len(wanted)} schemas to {target}")


@schemas_app.command()
@reports_errors
def check(directory: DirOpt = None) -> None:
    """Fail when the schema files and the code disagree."""
    stale = stale_files(directory or repo_root() / "schemas")
    if stale:
        raise ValidationError("schemas", "out of date: " + ", ".join(stale))
    console.print("schemas are up to date")
