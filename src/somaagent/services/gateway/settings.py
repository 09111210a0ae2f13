"""The gateway's configuration: the shared sections plus a `gateway` section (SOMA_GATEWAY__*)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from somaagent.application.policy.config import PolicyClientSettings
from somaagent.domain.constants import TOPIC_CONVERSATION_INBOUND, TOPIC_CONVERSATION_OUTBOUND
from somaagent.settings import CommonSettings

KIB = 1024


class GatewaySection(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    #: Largest request body accepted (413 beyond it).
    max_body_bytes: int = Field(default=1024 * KIB, ge=1 * KIB)
    #: Largest message text accepted, in characters (413 beyond it).
    max_message_chars: int = Field(default=64 * KIB, ge=1)
    inbound_topic: str = TOPIC_CONVERSATION_INBOUND
    outbound_topic: str = TOPIC_CONVERSATION_OUTBOUND
    #: Events buffered per WebSocket before a slow client is cut off (it resumes by offset).
    ws_queue_max: int = Field(default=10_000, ge=10)
    #: How long a WebSocket may take to send its API key as the first message.
    ws_auth_timeout_s: float = Field(default=5.0, gt=0)
    #: Bound on start-up and each fetch of a resume read.
    resume_timeout_s: float = Field(default=10.0, gt=0)
    #: Bound on each readiness probe (Kafka, Postgres, Redis).
    ready_timeout_s: float = Field(default=2.0, gt=0)
    page_max: int = Field(default=500, ge=1)


class GatewaySettings(CommonSettings):
    gateway: GatewaySection = GatewaySection()
    policy: PolicyClientSettings = PolicyClientSettings()
