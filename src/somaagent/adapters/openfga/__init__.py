"""OpenFGA adapter: relationship checks (personas, tools, memory namespaces, tenant admins)."""

from somaagent.adapters.openfga.client import (
    OpenFgaClient,
    fga_id,
    memory_ref,
    persona_ref,
    subject_of,
    tenant_ref,
    tool_ref,
    user_ref,
)

__all__ = [
    "OpenFgaClient",
    "fga_id",
    "memory_ref",
    "persona_ref",
    "subject_of",
    "tenant_ref",
    "tool_ref",
    "user_ref",
]
