"""OPA over its REST data API: one decision document per question."""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from somaagent.closing import AsyncClosing
from somaagent.domain.errors import BackendError, BackendTimeoutError, BackendUnavailableError
from somaagent.settings import OpaSettings
from somaagent.telemetry.spans import inject, span

#: The decision document the engine asks for (policies/opa/soma/decision.rego).
DECISION_PATH = "soma/decision/result"


class RelationCheck(BaseModel):
    """A relationship question OPA wants answered "yes" before it allows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    relation: str
    object: str


class OpaDecision(BaseModel):
    """OPA's part of a verdict: payload rules plus the relationship checks to make."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    allow: bool
    reasons: list[str] = Field(default_factory=list)
    checks: list[RelationCheck] = Field(default_factory=list)
    policy_version: str = ""


class OpaClient(AsyncClosing):
    """Async client for one OPA server; `async with OpaClient(settings) as opa`."""

    def __init__(self, settings: OpaSettings, *, path: str = DECISION_PATH) -> None:
        self._settings = settings
        self._url = f"{settings.url.rstrip('/')}/v1/data/{path}"
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_s),
            # OPA keeps idle connections open: reuse them for a minute, not httpx's 5 s.
            limits=httpx.Limits(
                max_connections=32, max_keepalive_connections=32, keepalive_expiry=60.0
            ),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def decide(self, input_: dict[str, Any]) -> OpaDecision:
        """Evaluate the decision document for `input_`; BackendError when OPA cannot answer."""
        headers: dict[str, str] = {}
        try:
            with span("opa decide", kind=SpanKind.CLIENT):
                inject(headers)  # OPA continues the trace when it exports spans itself
                resp = await self._http.post(self._url, json={"input": input_}, headers=headers)
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(f"opa: no answer within {self._settings.timeout_s}s") from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"opa: {self._settings.url} unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise BackendError(f"opa: {resp.status_code} {resp.text[:200]}")
        result = resp.json().get("result")
        if result is None:
            raise BackendError(f"opa: decision {self._url} is undefined (bundle not loaded?)")
        try:
            return OpaDecision.model_validate(result)
        except PydanticValidationError as exc:
            raise BackendError(f"opa: malformed decision: {exc}") from exc

    async def healthy(self) -> bool:
        try:
            resp = await self._http.get(f"{self._settings.url.rstrip('/')}/health?bundles")
        except httpx.HTTPError:
            return False
        return resp.status_code == 200
