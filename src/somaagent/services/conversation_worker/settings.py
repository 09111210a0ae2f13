"""Settings of the conversation worker (env prefix SOMA_, e.g. SOMA_WORKER__MAX_IN_FLIGHT)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from somaagent.application.policy.config import PolicyClientSettings
from somaagent.domain.constants import (
    GROUP_CONVERSATION_WORKER,
    TOPIC_CONVERSATION_INBOUND,
    TOPIC_CONVERSATION_OUTBOUND,
    TOPIC_TOOL_REQUESTS,
    TOPIC_TOOL_RESULTS,
)
from somaagent.settings import CommonSettings


class WorkerTopics(BaseModel):
    """The topics one worker reads and writes (SOMA_TOPICS__INBOUND=...; tests use fresh ones)."""

    inbound: str = TOPIC_CONVERSATION_INBOUND
    outbound: str = TOPIC_CONVERSATION_OUTBOUND
    tool_requests: str = TOPIC_TOOL_REQUESTS
    tool_results: str = TOPIC_TOOL_RESULTS


class WorkerSection(BaseModel):
    metrics_port: int = Field(default=18301, ge=0, le=65535)
    max_in_flight: int = Field(default=4, ge=1, le=256)
    answer_max_tokens: int = Field(default=256, ge=1, le=8192)
    #: Tokens of a tool's arguments (a small program fits; a cut-off JSON object is no call).
    decision_max_tokens: int = Field(default=256, ge=8, le=1024)
    #: Tokens of the answer written from a tool's result (checked before it is shown).
    grounded_max_tokens: int = Field(default=96, ge=8, le=1024)
    history_budget_tokens: int = Field(default=1024, ge=64)
    tool_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    policy_wait_s: float = Field(default=900.0, gt=0)
    expiry_interval_s: float = Field(default=2.0, gt=0)
    persona: str = "default"
    group_id: str = GROUP_CONVERSATION_WORKER
    slm_embed_timeout_s: float = Field(default=0.25, gt=0, le=30)


class WorkerSettings(CommonSettings):
    worker: WorkerSection = WorkerSection()
    policy: PolicyClientSettings = PolicyClientSettings()
    topics: WorkerTopics = WorkerTopics()
