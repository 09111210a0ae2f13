"""The platform as an MCP server: `/mcp` (streamable HTTP) runs a persona's turn as a tool.

Any MCP client connects to `<gateway>/mcp` with a platform API key (`Authorization: Bearer`,
or `X-API-Key`), the same keys as the rest of the API: a request without a valid key is a
401 before the MCP SDK sees it. The server offers one tool, `run_turn`: a message in, the
persona's reply and one card per tool call out (mcp_turns.py), on the road of the OpenAI
facade. `session_id` continues a session under the session routes' rule (the caller's own,
or any of the tenant's for a tenant admin); anyone else's is refused as unknown.

The SDK's session manager runs stateless (a fresh transport per POST), so any gateway
instance answers any request: what continues is the platform session, named by
`session_id`, not an MCP transport session. Its task group lives in this router's lifespan.
"""

# No `from __future__ import annotations`: the SDK reads the tool's annotations at runtime,
# and the persona list in them is a name of build_server's scope.
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent
from pydantic import Field
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from somaagent.adapters.personas import FilePersonaCatalog
from somaagent.services.gateway.auth import Principal, key_from_headers, principal_for_key
from somaagent.services.gateway.fields import Text
from somaagent.services.gateway.mcp_turns import TurnAnswer, TurnRefused, run_turn
from somaagent.services.gateway.runtime import Runtime
from somaagent.settings import repo_root

PATH = "/mcp"
TOOL = "run_turn"
#: The ASGI scope key that carries the caller's Principal from the key check to the tool.
PRINCIPAL = "somaagent.principal"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

INSTRUCTIONS = (
    "SomaAgent runs agent turns: call run_turn with a message; pass the session_id it "
    "returns to continue the conversation."
)


def _caller(ctx: Context) -> tuple[Runtime, Principal]:
    """The runtime and the caller of the HTTP request that carries this tool call."""
    request: Any = ctx.request_context.request
    runtime: Runtime = request.app.state.runtime
    who: Principal = request.scope[PRINCIPAL]
    return runtime, who


def build_server(personas: list[str]) -> MCPServer:
    """The MCP server and its one tool; `personas` are the ids a caller may name."""
    server: MCPServer = MCPServer(name="somaagent", instructions=INSTRUCTIONS, version="0.1.0")

    async def run_turn_tool(
        text: Annotated[Text, Field(min_length=1, description="the user's message")],
        ctx: Context,
        persona: Annotated[
            str | None,
            Field(pattern=_ID, description=f"persona of a new session: {', '.join(personas)}"),
        ] = None,
        session_id: Annotated[
            str | None,
            Field(pattern=_ID, description="a session_id returned before, to continue it"),
        ] = None,
    ) -> Annotated[CallToolResult, TurnAnswer]:
        runtime, who = _caller(ctx)
        if persona is not None and persona not in personas:
            raise ToolError(f"persona: unknown persona {persona!r}; known: {', '.join(personas)}")
        limit = runtime.settings.gateway.max_message_chars
        if len(text) > limit:
            raise ToolError(f"text: longer than {limit} characters")
        try:
            answer, content = await run_turn(runtime, who, text, persona, session_id)
        except TurnRefused as exc:
            raise ToolError(str(exc)) from exc
        return CallToolResult(
            content=[TextContent(type="text", text=content)],
            structured_content=answer.model_dump(mode="json"),
        )

    server.add_tool(
        run_turn_tool,
        name=TOOL,
        title="Run a SomaAgent turn",
        description=(
            "Send a message to a SomaAgent persona and wait for its answer: the reply and one "
            "card per tool the agent ran (tool, status, duration, first lines of output, "
            "files). Without session_id a new session starts; pass the returned session_id "
            "to continue it."
        ),
    )
    return server


def session_manager(personas: list[str]) -> StreamableHTTPSessionManager:
    """A stateless manager of the server. Every request carries an API key in a header (no
    cookie), so the SDK's DNS-rebinding check of Host and Origin is left off: the gateway
    answers under whatever name it is deployed."""
    server = build_server(personas)
    server.streamable_http_app(
        stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return server.session_manager


class McpEndpoint:
    """The ASGI app of `/mcp`: the API key's principal, then the SDK. A missing or bad key
    raises ApiError 401, which the app's error handlers answer like any other route's."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app: FastAPI = scope["app"]
        runtime: Runtime = app.state.runtime
        who = await principal_for_key(runtime.keys, key_from_headers(Request(scope)))
        manager: StreamableHTTPSessionManager = app.state.mcp
        await manager.handle_request({**scope, PRINCIPAL: who}, receive, send)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The SDK session manager's task group, for the app's life (inside the runtime's)."""
    manager = session_manager(FilePersonaCatalog(repo_root() / "personas").ids())
    async with manager.run():
        app.state.mcp = manager
        yield


router = APIRouter(tags=["mcp"], lifespan=_lifespan)
router.routes.append(
    Route(PATH, McpEndpoint(), methods=["GET", "POST", "DELETE"], include_in_schema=False)
)
