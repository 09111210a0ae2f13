"""Settings of the policy engine process (env prefix SOMA_, e.g. SOMA_POLICY_ENGINE__PORT)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from somaagent.settings import CommonSettings, repo_root


def default_policies_dir() -> Path:
    return repo_root() / "policies"


class PolicyEngineSection(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=18200, ge=0, le=65535)
    policies_dir: Path = Field(default_factory=default_policies_dir)
    #: How often the constitution files are checked for changes.
    watch_interval_s: float = Field(default=1.0, gt=0)


class PolicyEngineSettings(CommonSettings):
    policy_engine: PolicyEngineSection = PolicyEngineSection()
