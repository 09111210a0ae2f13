"""Admin-only routes: a tenant's admin issues and revokes the tenant's API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from somaagent.adapters.postgres.api_keys import Role
from somaagent.domain.errors import NotFoundError
from somaagent.services.gateway.auth import AdminPrincipal
from somaagent.services.gateway.runtime import Runtime

router = APIRouter(prefix="/v1/keys", tags=["admin"])


class CreateKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = "user"
    subject: str = Field(min_length=1, max_length=128)


class KeyCreated(BaseModel):
    key: str = Field(description="shown once; only its hash is stored")
    key_prefix: str
    tenant_id: str
    role: Role
    subject: str


@router.post("", status_code=201)
async def create_key(request: Request, who: AdminPrincipal, body: CreateKey) -> KeyCreated:
    """A new API key for the caller's tenant (admin role only)."""
    runtime: Runtime = request.app.state.runtime
    key, record = await runtime.keys.create(who.tenant_id, body.role, body.subject)
    return KeyCreated(key=key, **record.__dict__)


@router.delete("/{key_prefix}", status_code=204)
async def revoke_key(request: Request, who: AdminPrincipal, key_prefix: str) -> None:
    """Revoke the tenant's key with this prefix (admin role only)."""
    runtime: Runtime = request.app.state.runtime
    if await runtime.keys.revoke(key_prefix, tenant_id=who.tenant_id) == 0:
        raise NotFoundError(f"no live key {key_prefix} in this tenant")
