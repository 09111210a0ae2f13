"""Policy use cases: the shared client, gates, requeue resolution, retry job, audit chain."""

from somaagent.application.policy.client import DecisionCache, HttpPolicyClient
from somaagent.application.policy.config import PolicyClientSettings

__all__ = ["DecisionCache", "HttpPolicyClient", "PolicyClientSettings"]
