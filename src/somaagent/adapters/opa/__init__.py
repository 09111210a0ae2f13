"""Open Policy Agent adapter: payload rules from the Rego bundle in policies/opa/."""

from somaagent.adapters.opa.client import DECISION_PATH, OpaClient, OpaDecision, RelationCheck

__all__ = ["DECISION_PATH", "OpaClient", "OpaDecision", "RelationCheck"]
