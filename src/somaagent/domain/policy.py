"""Policy questions, the verdicts the policy engine gives, requeue items and audit events.

Pure models and ports: the engine, the client, the gates and the requeue store all speak
these types. `audit_hash` defines the hash chain of the audit log.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from somaagent.domain.events import new_id, utc_now

PolicyAction = Literal[
    "tool.execute", "tool.request", "memory.write", "memory.read", "requeue.resolve"
]
#: Every action the engine knows; anything else is denied with a reason.
POLICY_ACTIONS: tuple[str, ...] = (
    "tool.request",
    "tool.execute",
    "memory.write",
    "memory.read",
    "requeue.resolve",
)
#: Ids that become parts of OpenFGA object ids: no whitespace, '/', '#' or '%'
#: (':' is allowed; it is written %3A in OpenFGA, see adapters/openfga fga_id).
_ID_PATTERN = r"^[^\s/#%]+$"


class PolicyRequest(BaseModel):
    """One question to the policy engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str = Field(min_length=1, max_length=128, pattern=_ID_PATTERN)
    persona: str = Field(min_length=1, max_length=128, pattern=_ID_PATTERN)
    action: str = Field(min_length=1, max_length=64)
    resource: str = Field(min_length=1, max_length=256, pattern=r"^[^\s#%]+$")
    payload: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)

    def cache_key(self) -> bytes:
        """The full request, canonically serialised: equal requests, equal keys."""
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)


class PolicyVerdict(BaseModel):
    """The engine's answer; `constitution_hash` names the exact policy text in force."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: bool
    reasons: list[str] = Field(default_factory=list)
    decision_id: str = Field(default_factory=new_id)
    policy_version: str = ""
    constitution_hash: str = ""
    evaluated_at: AwareDatetime = Field(default_factory=utc_now)
    #: True when the decision was evaluated in canary mode and not enforced.
    canary: bool = False


class PolicyClient(Protocol):
    """Asks the policy engine; implementations fail closed unless in canary mode."""

    async def evaluate(
        self, request: PolicyRequest, *, use_cache: bool = True
    ) -> PolicyVerdict: ...


RequeueStatus = Literal["pending", "released", "denied", "failed"]
ResolveDecision = Literal["re-evaluate", "allow", "deny"]
REQUEUE_STATUSES: tuple[str, ...] = ("pending", "released", "denied", "failed")


class RequeueItem(BaseModel):
    """A blocked action waiting for an admin or a policy change.

    `envelope` is the exact event the caller would have published to `target_topic`
    (e.g. the ToolCall envelope for tool.requests); releasing re-publishes it unchanged,
    so consumers that are idempotent by event_id see it once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=new_id)
    tenant_id: str
    persona_id: str
    session_id: str
    request: PolicyRequest
    verdict: PolicyVerdict
    target_topic: str | None = None
    envelope: dict[str, Any] = Field(default_factory=dict)
    status: RequeueStatus = "pending"
    attempts: int = 0
    next_attempt_at: AwareDatetime = Field(default_factory=utc_now)
    created_at: AwareDatetime = Field(default_factory=utc_now)
    updated_at: AwareDatetime = Field(default_factory=utc_now)
    resolved_by: str | None = None
    resolution_reason: str | None = None


class AuditEvent(BaseModel):
    """One entry of the append-only, hash-chained audit log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(default_factory=new_id)
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    actor: str = Field(min_length=1)
    tenant_id: str
    action: str
    subject_id: str
    reason: str = ""
    verdict_before: dict[str, Any] | None = None
    verdict_after: dict[str, Any] | None = None

    def canonical(self) -> bytes:
        """Canonical JSON of the row's content (sorted keys, UTC microsecond time)."""
        body = self.model_dump(mode="json", exclude={"occurred_at"})
        body["occurred_at"] = _utc_text(self.occurred_at)
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


GENESIS_HASH = "0" * 64


def audit_hash(prev_hash: str, event: AuditEvent) -> str:
    """hash = sha256(prev_hash + canonical JSON of the row)."""
    return hashlib.sha256(prev_hash.encode() + event.canonical()).hexdigest()
