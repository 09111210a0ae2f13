"""`soma chat` tests run against the web tests' real platform: gateway, worker, executor."""

from __future__ import annotations

from web.conftest import user_key, web_gateway, web_tools, web_worker

__all__ = ["user_key", "web_gateway", "web_tools", "web_worker"]
