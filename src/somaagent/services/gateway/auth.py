"""API-key authentication: a key names a tenant, a role and a subject.

HTTP clients send `Authorization: Bearer <key>` (or `X-API-Key: <key>`); WebSockets send
`?key=<key>` or `{"type": "auth", "key": "<key>"}` as their first message, because browsers
cannot set headers on a WebSocket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from somaagent.adapters.postgres.api_keys import ApiKeyStore, Role
from somaagent.services.gateway.errors import ApiError


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    role: Role
    subject: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


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
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "this route needs the admin role")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
