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
    #: Largest file a user may upload to a session (413 beyond it; MAX_BODY_BYTES also holds).
    max_upload_bytes: int = Field(default=1024 * KIB, ge=1)
    #: Media types a user may upload (415 for others): text that document_query can read.
    upload_media_types: tuple[str, ...] = (
        "text/plain",
        "text/markdown",
        "text/csv",
        "application/json",
    )


class OpenAiSection(BaseModel):
    """The OpenAI-compatible API (SOMA_OPENAI__*): per-tenant limits and bounds."""

    #: Chat completions a tenant may start per window (429 beyond it); 0 turns it off.
    requests_per_window: int = Field(default=60, ge=0)
    window_s: float = Field(default=60.0, gt=0)
    #: Turns a tenant may have running through this API at once (429 beyond it); 0: off.
    concurrent_turns: int = Field(default=4, ge=0)
    #: Retry-After sent when the concurrent-turn limit refuses a request.
    busy_retry_after_s: int = Field(default=2, ge=1)
    #: How long one request waits for its turn to finish (then 504 / an error chunk).
    turn_timeout_s: float = Field(default=300.0, gt=0)
    #: Bound on probing a model server before a turn (503 when every profile is down).
    model_probe_timeout_s: float = Field(default=1.0, gt=0)
    #: How long a probe's answer is reused.
    model_probe_ttl_s: float = Field(default=5.0, ge=0)


class GatewaySettings(CommonSettings):
    gateway: GatewaySection = GatewaySection()
    openai: OpenAiSection = OpenAiSection()
    policy: PolicyClientSettings = PolicyClientSettings()
