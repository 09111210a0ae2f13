"""The requeue API: list and read blocked actions; admins resolve them.

Mounted by the gateway (`app.include_router(requeue_routes.router)`), which must set
`app.state.requeue` to a RequeueService. Callers authenticate with their API key
(gateway `CurrentPrincipal`); they see their own tenant's items only. Resolving also
requires the caller to be `admin` of the tenant in OpenFGA (user:<subject> admin
tenant:<tenant>), whatever role the key carries, and always leaves an audit event.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from somaagent.application.policy.requeue import RequeueService
from somaagent.domain.errors import PolicyDeniedError
from somaagent.domain.policy import RequeueItem, RequeueStatus, ResolveDecision
from somaagent.services.gateway.auth import CurrentPrincipal
from somaagent.services.gateway.errors import ApiError
from somaagent.services.gateway.fields import Text

router = APIRouter(prefix="/v1/policy/requeue", tags=["policy"])


def requeue_service(request: Request) -> RequeueService:
    service = getattr(request.app.state, "requeue", None)
    if not isinstance(service, RequeueService):
        raise ApiError(503, "backend_unavailable", "the requeue service is not configured")
    return service


Service = Annotated[RequeueService, Depends(requeue_service)]


class Resolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: ResolveDecision
    reason: Text = Field(min_length=1, max_length=2000)


@router.get("")
async def list_requeue(
    who: CurrentPrincipal,
    service: Service,
    tenant: str | None = None,
    status: RequeueStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RequeueItem]:
    """Items of the caller's tenant, newest first, optionally by status."""
    if tenant is not None and tenant != who.tenant_id:
        raise ApiError(403, "forbidden", "you can list your own tenant only", field="tenant")
    return await service.list_items(who.tenant_id, status, limit)


@router.get("/{item_id}")
async def get_requeue(item_id: str, who: CurrentPrincipal, service: Service) -> RequeueItem:
    return await service.get(item_id, who.tenant_id)


@router.post("/{item_id}/resolve")
async def resolve_requeue(
    item_id: str, body: Resolve, who: CurrentPrincipal, service: Service
) -> RequeueItem:
    """re-evaluate | allow | deny, for admins of the tenant (checked in OpenFGA)."""
    try:
        return await service.resolve(
            item_id,
            tenant_id=who.tenant_id,
            subject=who.subject,
            decision=body.decision,
            reason=body.reason,
        )
    except PolicyDeniedError as exc:
        raise ApiError(403, "forbidden", exc.message) from exc
