"""The event a policy gate publishes on policy.blocked, registered with the event types."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from somaagent.domain.event_types import register_event_type
from somaagent.domain.policy import PolicyVerdict

POLICY_ACTION_BLOCKED: Final = "policy.action.blocked"
#: Kafka header on a re-published action: the requeue item that released it.
HEADER_POLICY_RELEASE: Final = "soma-policy-release"


class PolicyBlocked(BaseModel):
    """An action a gate refused (or could not get decided), now waiting in the requeue store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requeue_id: str
    action: str
    resource: str
    verdict: PolicyVerdict
    target_topic: str | None = None
    blocked_event_id: str
    blocked_event_type: str
    blocked_payload: dict[str, Any] = Field(default_factory=dict)


register_event_type(POLICY_ACTION_BLOCKED, PolicyBlocked)
