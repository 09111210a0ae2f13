"""`soma worker tools` (the tool executor process) and `soma search index` (local corpus)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError as PydanticValidationError

from somaagent.adapters.postgres.pool import open_pool
from somaagent.adapters.postgres.search_index import PostgresSearchIndex
from somaagent.cli.common import console, err_console, reports_errors
from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings
from somaagent.telemetry.sdk import start_telemetry
from somaagent.tools.corpus import CORPUS_PYTHON_DOCS, DEFAULT_DOC_ROOT, load_documents


def load_executor_settings() -> ToolExecutorSettings:
    try:
        return ToolExecutorSettings()
    except PydanticValidationError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


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
    start_telemetry(settings, "tool-executor")
    asyncio.run(serve_tool_executor(settings))


search_app = typer.Typer(help="The local web_search corpus.", no_args_is_help=True)


async def build_search_index(
    settings: ToolExecutorSettings, root: Path, limit: int | None, *, if_empty: bool = False
) -> int:
    """Index the corpus; with `if_empty`, only when it holds no documents (returns 0 then)."""
    pool = await open_pool(settings.postgres)
    try:
        index = PostgresSearchIndex(pool)
        if if_empty and await index.count(CORPUS_PYTHON_DOCS):
            return 0
        docs = await asyncio.to_thread(load_documents, root, limit=limit)
        return await index.upsert(CORPUS_PYTHON_DOCS, docs)
    finally:
        await pool.close()


@search_app.command("index")
@reports_errors
def search_index(
    root: Annotated[Path, typer.Option(help="Sphinx HTML root (python3-doc).")] = DEFAULT_DOC_ROOT,
    limit: Annotated[int | None, typer.Option(help="Index only the first N pages.")] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only when the corpus holds no documents.")
    ] = False,
) -> None:
    """Build the local web_search corpus from the Python documentation."""
    settings = load_executor_settings()
    if not root.is_dir():
        err_console.print(
            f"[red]error:[/red] root: {root} is not a directory (apt install python3-doc)"
        )
        raise typer.Exit(2)
    started = time.perf_counter()
    count = asyncio.run(build_search_index(settings, root, limit, if_empty=if_empty))
    console.print(f"indexed {count} pages from {root} in {time.perf_counter() - started:.1f} s")
