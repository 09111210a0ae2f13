"""`soma worker tools` (the tool executor process) and `soma search index` (local corpus)."""

from __future__ import annotations

import asyncio
import logging
import signal

import structlog
import typer
from pydantic import ValidationError as PydanticValidationError

from somaagent.cli.common import err_console, reports_errors
from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings


def load_executor_settings() -> ToolExecutorSettings:
    try:
        return ToolExecutorSettings()
    except PydanticValidationError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def configure_json_logs(level: str) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
    )


async def serve_tool_executor(settings: ToolExecutorSettings) -> None:
    """Run the executor until SIGTERM or SIGINT, then shut down in order."""
    async with ToolExecutorService(settings) as service:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(service.shutdown()))
        await service.run()


@reports_errors
def tools_worker() -> None:
    """Run the tool executor: tool.requests -> sandboxed tools -> tool.results."""
    settings = load_executor_settings()
    configure_json_logs(settings.log_level)
    asyncio.run(serve_tool_executor(settings))
