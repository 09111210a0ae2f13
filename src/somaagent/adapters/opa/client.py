"""OPA over its REST data API: one decision document per question."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from somaagent.closing import AsyncClosing
from somaagent.domain.errors import BackendError
from somaagent.json_http import JsonHttp
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
        # OPA keeps idle connections open: reuse them for a minute.
        self._http = JsonHttp(
            "opa", timeout_s=settings.timeout_s, max_connections=32, keepalive_s=60.0
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def decide(self, input_: dict[str, Any]) -> OpaDecision:
        """Evaluate the decision document for `input_`; BackendError when OPA cannot answer."""
        headers: dict[str, str] = {}
        with span("opa decide", kind=SpanKind.CLIENT):
            inject(headers)  # OPA continues the trace when it exports spans itself
            resp = await self._http.post(self._url, json={"input": input_}, headers=headers)
        if resp.status != 200:
            raise BackendError(f"opa: {resp.status} {resp.text[:200]}")
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
        except BackendError:
            return False
        return resp.status == 200
