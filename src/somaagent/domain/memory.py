"""Memory writes and reads an agent performs, each of which passes policy."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from somaagent.domain.events import new_id, utc_now
from somaagent.domain.policy import PolicyVerdict


class MemoryOperation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operation_id: str = Field(default_factory=new_id)
    kind: Literal["write", "read", "delete"]
    namespace: str = Field(min_length=1, max_length=128)
    key: str | None = Field(default=None, max_length=256)
    content: str | None = None
    verdict: PolicyVerdict | None = None
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
