"""Every Kafka topic, Redis key prefix and table name in one place."""

from __future__ import annotations

from typing import Final

# Kafka topics
TOPIC_CONVERSATION_INBOUND: Final = "conversation.inbound"
TOPIC_CONVERSATION_OUTBOUND: Final = "conversation.outbound"
TOPIC_TOOL_REQUESTS: Final = "tool.requests"
TOPIC_TOOL_RESULTS: Final = "tool.results"
TOPIC_POLICY_BLOCKED: Final = "policy.blocked"
DLQ_SUFFIX: Final = ".dlq"

#: Topics that a service consumes; each has a `.dlq` twin for malformed events.
CONSUMED_TOPICS: Final = (
    TOPIC_CONVERSATION_INBOUND,
    TOPIC_TOOL_REQUESTS,
    TOPIC_TOOL_RESULTS,
)
ALL_TOPICS: Final = (
    TOPIC_CONVERSATION_INBOUND,
    TOPIC_CONVERSATION_OUTBOUND,
    TOPIC_TOOL_REQUESTS,
    TOPIC_TOOL_RESULTS,
    TOPIC_POLICY_BLOCKED,
    *(t + DLQ_SUFFIX for t in CONSUMED_TOPICS),
)


def dlq_topic(topic: str) -> str:
    """The dead-letter twin of a consumed topic."""
    return topic + DLQ_SUFFIX


# Kafka consumer groups
GROUP_CONVERSATION_WORKER: Final = "conversation-worker"
GROUP_TOOL_EXECUTOR: Final = "tool-executor"

# Kafka headers
HEADER_TRACEPARENT: Final = "traceparent"
HEADER_EVENT_TYPE: Final = "event_type"

# Redis key prefixes
REDIS_SESSION_PREFIX: Final = "soma:session:"
REDIS_REQUEUE_PENDING: Final = "soma:requeue:pending"
REDIS_LEASE_PREFIX: Final = "soma:lease:"
REDIS_DEDUPE_PREFIX: Final = "soma:dedupe:"
#: The relationship epoch: every OpenFGA write bumps it; cached policy allows die when it moves.
REDIS_POLICY_EPOCH: Final = "soma:policy:epoch"
#: The executors' MCP catalogue: servers, their state and tools with input schemas (JSON).
REDIS_MCP_CATALOGUE: Final = "soma:mcp:catalogue"

# PostgreSQL tables
TABLE_SCHEMA_MIGRATIONS: Final = "schema_migrations"
TABLE_EVENTS: Final = "events"
TABLE_SESSIONS: Final = "sessions"
TABLE_SNAPSHOTS: Final = "session_snapshots"
TABLE_MODEL_PROFILES: Final = "model_profiles"
TABLE_MODEL_PROFILE_OVERRIDES: Final = "model_profile_overrides"
TABLE_TURN_STATE: Final = "turn_state"
TABLE_REQUEUE: Final = "requeue_items"
TABLE_AUDIT: Final = "audit_log"
TABLE_MEMORY: Final = "memories"
TABLE_API_KEYS: Final = "api_keys"
TABLE_TOOL_EXECUTIONS: Final = "tool_executions"
TABLE_ATTACHMENTS: Final = "attachments"
TABLE_ATTACHMENT_REFS: Final = "attachment_refs"
TABLE_SEARCH_DOCUMENTS: Final = "search_documents"
