"""The gateway: HTTP API, WebSocket fan-out of conversation.outbound, and the web client."""

from somaagent.services.gateway.app import create_app
from somaagent.services.gateway.settings import GatewaySection, GatewaySettings

__all__ = ["GatewaySection", "GatewaySettings", "create_app"]
