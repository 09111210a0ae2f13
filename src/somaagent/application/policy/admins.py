"""Tenant admins: one source of truth, the OpenFGA relation `user:<subject> admin tenant:<t>`.

Whether a caller is an admin is never read from the role stored on an API key: every
admin-only route and the requeue resolution ask OpenFGA. Creating a key with role `admin`
grants its subject that relation first (so the key works the moment it is shown);
`soma admins grant|revoke|list` and /v1/admins manage it afterwards. Revoking the last
admin of a tenant is refused, so a tenant always keeps someone who can resolve held actions.
"""

from __future__ import annotations

from typing import TypeVar

import structlog

from somaagent.application.policy.ports import AdminDirectory, KeyIssuer
from somaagent.domain.errors import NotFoundError, PolicyDeniedError

log = structlog.get_logger(__name__)

K = TypeVar("K")


class LastAdminError(PolicyDeniedError):
    """Revoking this admin would leave the tenant with none."""


class TenantAdmins:
    """Grant, revoke and list a tenant's admins; issue keys that grant on creation."""

    def __init__(self, directory: AdminDirectory) -> None:
        self.directory = directory

    async def is_admin(self, tenant_id: str, subject: str) -> bool:
        return await self.directory.is_admin(tenant_id, subject)

    async def list(self, tenant_id: str) -> list[str]:
        return await self.directory.admins_of(tenant_id)

    async def grant(self, tenant_id: str, subject: str, *, actor: str) -> None:
        await self.directory.grant_admin(tenant_id, subject)
        log.info("admin.granted", tenant_id=tenant_id, subject=subject, actor=actor)

    async def revoke(self, tenant_id: str, subject: str, *, actor: str) -> None:
        """Refused for a subject that is not an admin, and for the tenant's last admin."""
        admins = await self.directory.admins_of(tenant_id)
        if subject not in admins:
            raise NotFoundError(f"{subject} is not an admin of tenant {tenant_id}")
        if admins == [subject]:
            raise LastAdminError(
                f"{subject} is the last admin of tenant {tenant_id}; grant another admin first"
            )
        await self.directory.revoke_admin(tenant_id, subject)
        log.info("admin.revoked", tenant_id=tenant_id, subject=subject, actor=actor)

    async def issue_key(
        self, keys: KeyIssuer[K], tenant_id: str, role: str, subject: str, *, actor: str
    ) -> tuple[str, K]:
        """A new key; role `admin` makes `subject` an admin of the tenant before the key
        exists, so no admin key is ever shown whose subject is not an admin."""
        if role == "admin":
            await self.grant(tenant_id, subject, actor=actor)
        return await keys.create(tenant_id, role, subject)
