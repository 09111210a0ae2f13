"""API-key authentication: a key names a tenant, a role and a subject.

Admin-only routes ask OpenFGA whether the key's subject is an admin of its tenant
(application/policy/admins.py); the role stored on the key grants nothing by itself.

HTTP clients send `Authorization: Bearer <key>` (or `X-API-Key: <key>`); WebSockets send
`?key=<key>` or `{"type": "auth", "key": "<key>"}` as their first message, because browsers
cannot set headers on a WebSocket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from somaagent.adapters.postgres.api_keys import ApiKeyStore, Role
from somaagent.application.policy.admins import TenantAdmins
from somaagent.services.gateway.errors import ApiError


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    role: Role
    subject: str


def key_from_headers(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return request.headers.get("x-api-key")


async def principal_for_key(keys: ApiKeyStore, key: str | None) -> Principal:
    if not key:
        raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer)")
    record = await keys.lookup(key)
    if record is None:
        raise ApiError(401, "unauthorized", "the API key is unknown or revoked")
    return Principal(record.tenant_id, record.role, record.subject)


async def current_principal(request: Request) -> Principal:
    keys: ApiKeyStore = request.app.state.runtime.keys
    return await principal_for_key(keys, key_from_headers(request))


async def admin_principal(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    admins: TenantAdmins = request.app.state.runtime.admins
    if not await admins.is_admin(principal.tenant_id, principal.subject):
        raise ApiError(
            403,
            "forbidden",
            f"user {principal.subject} is not an admin of tenant {principal.tenant_id}",
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
