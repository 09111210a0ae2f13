"""The policy engine process: POST /v1/evaluate backed by OPA and OpenFGA."""

from somaagent.services.policy_engine.app import create_app, open_engine
from somaagent.services.policy_engine.bundle import ConstitutionWatch, constitution_hash
from somaagent.services.policy_engine.engine import PolicyEngine
from somaagent.services.policy_engine.settings import PolicyEngineSection, PolicyEngineSettings

__all__ = [
    "ConstitutionWatch",
    "PolicyEngine",
    "PolicyEngineSection",
    "PolicyEngineSettings",
    "constitution_hash",
    "create_app",
    "open_engine",
]
