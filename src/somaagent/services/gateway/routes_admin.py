"""Admin-only routes: a tenant's admins issue and revoke its API keys and manage its admins.

Being an admin is the OpenFGA relation `user:<subject> admin tenant:<tenant>` (see
application/policy/admins.py); a key created with role `admin` grants it to its subject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from somaagent.adapters.postgres.api_keys import Role
from somaagent.application.policy.admins import LastAdminError, TenantAdmins
from somaagent.domain.errors import NotFoundError
from somaagent.services.gateway.auth import AdminPrincipal
from somaagent.services.gateway.errors import ApiError
from somaagent.services.gateway.fields import Line
from somaagent.services.gateway.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["admin"])

_SUBJECT = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"


class CreateKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = "user"
    subject: Line = Field(min_length=1, max_length=128)


class KeyCreated(BaseModel):
    key: str = Field(description="shown once; only its hash is stored")
    key_prefix: str
    tenant_id: str
    role: Role
    subject: str


class GrantAdmin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(pattern=_SUBJECT)


class Admins(BaseModel):
    tenant_id: str
    admins: list[str]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _admins(request: Request) -> TenantAdmins:
    return _runtime(request).admins


@router.post("/keys", status_code=201)
async def create_key(request: Request, who: AdminPrincipal, body: CreateKey) -> KeyCreated:
    """A new API key for the caller's tenant; role `admin` makes its subject an admin."""
    key, record = await _admins(request).issue_key(
        _runtime(request).keys, who.tenant_id, body.role, body.subject, actor=who.subject
    )
    return KeyCreated(key=key, **record.__dict__)


@router.delete("/keys/{key_prefix}", status_code=204)
async def revoke_key(request: Request, who: AdminPrincipal, key_prefix: str) -> None:
    """Revoke the tenant's key with this prefix (the subject's admin relation stays)."""
    if await _runtime(request).keys.revoke(key_prefix, tenant_id=who.tenant_id) == 0:
        raise NotFoundError(f"no live key {key_prefix} in this tenant")


@router.get("/admins")
async def list_admins(request: Request, who: AdminPrincipal) -> Admins:
    """The subjects that are admins of the caller's tenant."""
    return Admins(tenant_id=who.tenant_id, admins=await _admins(request).list(who.tenant_id))


@router.post("/admins", status_code=201)
async def grant_admin(request: Request, who: AdminPrincipal, body: GrantAdmin) -> Admins:
    await _admins(request).grant(who.tenant_id, body.subject, actor=who.subject)
    return await list_admins(request, who)


@router.delete("/admins/{subject}")
async def revoke_admin(
    request: Request, who: AdminPrincipal, subject: Annotated[str, Path(pattern=_SUBJECT)]
) -> Admins:
    """Revoke an admin; the tenant's last admin cannot be revoked (409 last_admin)."""
    try:
        await _admins(request).revoke(who.tenant_id, subject, actor=who.subject)
    except LastAdminError as exc:
        raise ApiError(409, "last_admin", exc.message, "subject") from exc
    return await list_admins(request, who)
