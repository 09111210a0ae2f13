"""Policy questions and the verdicts the policy engine gives."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from somaagent.domain.events import new_id, utc_now

PolicyAction = Literal[
    "tool.execute", "tool.request", "memory.write", "memory.read", "requeue.resolve"
]


class PolicyRequest(BaseModel):
    """One question to the policy engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str = Field(min_length=1, max_length=128)
    persona: str = Field(min_length=1, max_length=128)
    action: str = Field(min_length=1, max_length=64)
    resource: str = Field(min_length=1, max_length=256)
    payload: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)


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
