"""What the policy use cases need from the outside world, as Protocols."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

from somaagent.domain.policy import PolicyVerdict, RequeueItem, RequeueStatus

K_co = TypeVar("K_co", covariant=True)


class RequeueStore(Protocol):
    """Durable requeue items (see adapters/postgres/requeue.py)."""

    async def add(self, item: RequeueItem) -> RequeueItem: ...

    async def get(self, item_id: str, *, tenant_id: str | None = None) -> RequeueItem: ...

    async def list_items(
        self, tenant_id: str, *, status: RequeueStatus | None = None, limit: int = 100
    ) -> list[RequeueItem]: ...

    async def finish(
        self,
        item_id: str,
        *,
        status: RequeueStatus,
        actor: str,
        reason: str,
        verdict: PolicyVerdict,
        audit_action: str,
        on_transition: Callable[[RequeueItem], Awaitable[None]] | None = None,
    ) -> RequeueItem: ...

    async def reschedule(
        self,
        item_id: str,
        *,
        verdict: PolicyVerdict,
        next_attempt_at: datetime,
        actor: str,
        reason: str,
    ) -> RequeueItem: ...

    async def due(self, now: datetime, limit: int = 50) -> list[str]: ...

    async def pending_count(self) -> int: ...

    async def reindex(self) -> int: ...

    async def sync_index(self, item: RequeueItem) -> None: ...


class AdminCheck(Protocol):
    """Is this user an admin of this tenant? (OpenFGA: user:<subject> admin tenant:<tenant>)"""

    async def is_admin(self, tenant_id: str, subject: str) -> bool: ...


class AdminDirectory(AdminCheck, Protocol):
    """Reads and writes the tenant admin relation (OpenFGA, the one source of truth)."""

    async def admins_of(self, tenant_id: str) -> list[str]: ...

    async def grant_admin(self, tenant_id: str, subject: str) -> None: ...

    async def revoke_admin(self, tenant_id: str, subject: str) -> None: ...


class KeyIssuer(Protocol[K_co]):
    """Creates API keys (adapters/postgres/api_keys.py): (the key, its record)."""

    async def create(self, tenant_id: str, role: str, subject: str) -> tuple[str, K_co]: ...


class PolicyEpochSource(Protocol):
    """A counter that moves whenever a relationship is written or deleted."""

    async def current(self) -> str | None:
        """The epoch now, or None when it cannot be read (then no cached allow is used)."""
        ...

    async def bump(self) -> None: ...
