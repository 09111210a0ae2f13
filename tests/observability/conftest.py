"""The conversation worker's fixtures (fresh topics, worker settings on them), shared."""

from services.conversation_worker.conftest import topics, worker_settings

__all__ = ["topics", "worker_settings"]
