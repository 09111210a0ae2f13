"""`soma worker ...`: the long-running worker processes."""

from __future__ import annotations

import typer

from somaagent.cli.conversation import conversation_worker
from somaagent.cli.tools import tools_worker

worker_app = typer.Typer(help="Run a worker process.", no_args_is_help=True)
worker_app.command("tools")(tools_worker)
worker_app.command("conversation")(conversation_worker)
