"""The conversation worker process: Kafka in, streamed tokens out, every turn persisted."""

from somaagent.services.conversation_worker.settings import WorkerSettings, WorkerTopics
from somaagent.services.conversation_worker.worker import ConversationWorker

__all__ = ["ConversationWorker", "WorkerSettings", "WorkerTopics"]
