"""`soma worker conversation`: the conversation worker process."""

from __future__ import annotations

import asyncio
import signal

import typer
from pydantic import ValidationError as PydanticValidationError

from somaagent.cli.common import err_console, reports_errors
from somaagent.services.conversation_worker import ConversationWorker, WorkerSettings
from somaagent.telemetry.sdk import start_telemetry


def load_worker_settings() -> WorkerSettings:
    try:
        return WorkerSettings()
    except PydanticValidationError as exc:
        err_console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


async def serve_conversation_worker(settings: WorkerSettings) -> None:
    """Run the worker until SIGTERM or SIGINT, then drain and shut down in order."""
    async with ConversationWorker(settings) as worker:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.shutdown()))
        await worker.run()


@reports_errors
def conversation_worker() -> None:
    """Run the conversation worker: conversation.inbound + tool.results -> streamed answers."""
    settings = load_worker_settings()
    start_telemetry(settings, "conversation-worker")
    asyncio.run(serve_conversation_worker(settings))
