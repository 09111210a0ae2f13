"""The `soma` command: one Typer app, a sub-command group per concern."""

from __future__ import annotations

import typer

from somaagent.cli.admins import admins_app
from somaagent.cli.chat import chat
from somaagent.cli.db import db_app
from somaagent.cli.gateway import gateway, keys_app
from somaagent.cli.infra import infra_app
from somaagent.cli.mcp import mcp_app
from somaagent.cli.models import models_app
from somaagent.cli.platform import down, provision_command, status, up
from somaagent.cli.policy import audit_app, policy_engine, requeue_app
from somaagent.cli.replay import replay
from somaagent.cli.schemas import schemas_app
from somaagent.cli.slm import slm_app
from somaagent.cli.tools import search_app
from somaagent.cli.worker import worker_app

app = typer.Typer(
    name="soma",
    help="SomaAgent: run LLM agent conversations as a distributed system.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("up")(up)
app.command("down")(down)
app.command("status")(status)
app.command("provision")(provision_command)
app.add_typer(infra_app, name="infra")
app.add_typer(db_app, name="db")
app.command("gateway")(gateway)
app.add_typer(keys_app, name="keys")
app.add_typer(admins_app, name="admins")
app.add_typer(requeue_app, name="requeue")
app.command("chat")(chat)
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")
app.command("policy-engine")(policy_engine)
app.add_typer(slm_app, name="slm")
app.add_typer(schemas_app, name="schemas")
app.add_typer(worker_app, name="worker")
app.command("replay")(replay)
app.add_typer(search_app, name="search")
app.add_typer(mcp_app, name="mcp")


if __name__ == "__main__":  # pragma: no cover
    app()
