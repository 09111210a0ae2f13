"""Settings of the policy client; services nest it, e.g. `policy: PolicyClientSettings`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PolicyClientSettings(BaseModel):
    url: str = "http://127.0.0.1:18200"
    timeout_s: float = Field(default=2.0, gt=0, le=30)
    #: How long an *allow* stays cached; 0 disables the cache. Denials are never cached.
    cache_ttl_s: float = Field(default=2.0, ge=0, le=60)
    cache_max_entries: int = Field(default=10_000, ge=0)
    #: Canary everywhere: evaluate and log would-block decisions, enforce nothing.
    canary_global: bool = False
    #: Canary only for these tenants.
    canary_tenants: frozenset[str] = frozenset()

    def canary_for(self, tenant: str) -> bool:
        return self.canary_global or tenant in self.canary_tenants
