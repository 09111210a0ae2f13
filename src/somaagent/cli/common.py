"""Helpers every `soma` sub-command shares: settings and error reporting."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import structlog
import typer
from pydantic import ValidationError as PydanticValidationError
from rich.console import Console

from somaagent.domain.errors import SomaError
from somaagent.settings import CommonSettings

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


def load_settings() -> CommonSettings:
    try:
        return CommonSettings()
    except PydanticValidationError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a SomaError into a one-line message and exit status 1, not a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SomaError as exc:
            err_console.print(f"[red]error:[/red] {exc.message}")
            raise typer.Exit(1) from exc

    return wrapper


def logs_to_stderr() -> None:
    """A one-shot command's structured logs go to stderr: its stdout is its answer (a key)."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
