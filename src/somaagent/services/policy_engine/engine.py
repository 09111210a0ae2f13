"""The policy engine: OPA for payload rules, then OpenFGA for the relationships OPA names."""

from __future__ import annotations

import time

import structlog
from prometheus_client import Histogram

from somaagent.adapters.opa import OpaClient
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.domain.policy import POLICY_ACTIONS, PolicyRequest, PolicyVerdict
from somaagent.services.policy_engine.bundle import ConstitutionWatch

log = structlog.get_logger(__name__)

LAYER_SECONDS = Histogram(
    "policy_engine_layer_seconds",
    "Time the policy engine spends in each backend per decision, in seconds.",
    ["layer"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)


class PolicyEngine:
    """Answers PolicyRequests; raises BackendError when OPA or OpenFGA cannot answer."""

    def __init__(self, opa: OpaClient, fga: OpenFgaClient, watch: ConstitutionWatch) -> None:
        self.opa = opa
        self.fga = fga
        self.watch = watch

    @property
    def constitution_hash(self) -> str:
        return self.watch.current

    async def evaluate(self, request: PolicyRequest) -> PolicyVerdict:
        chash = self.watch.current
        if request.action not in POLICY_ACTIONS:
            verdict = PolicyVerdict(
                allow=False,
                reasons=[f"C6: unknown action {request.action!r}"],
                constitution_hash=chash,
            )
            self._log(request, verdict)
            return verdict
        started = time.perf_counter()
        decision = await self.opa.decide(request.model_dump(mode="json"))
        LAYER_SECONDS.labels("opa").observe(time.perf_counter() - started)
        reasons = list(decision.reasons)
        if decision.allow and decision.checks:
            started = time.perf_counter()
            answers = await self.fga.check_all(
                (c.user, c.relation, c.object) for c in decision.checks
            )
            LAYER_SECONDS.labels("openfga").observe(time.perf_counter() - started)
            reasons += [
                f"relationship missing: {c.user} is not {c.relation} of {c.object}"
                for c, ok in zip(decision.checks, answers, strict=True)
                if not ok
            ]
        verdict = PolicyVerdict(
            allow=decision.allow and not reasons,
            reasons=reasons,
            policy_version=decision.policy_version,
            constitution_hash=chash,
        )
        self._log(request, verdict)
        return verdict

    def _log(self, request: PolicyRequest, verdict: PolicyVerdict) -> None:
        log.info(
            "policy.decision",
            decision_id=verdict.decision_id,
            allow=verdict.allow,
            reasons=verdict.reasons,
            tenant_id=request.tenant,
            persona_id=request.persona,
            action=request.action,
            resource=request.resource,
            policy_version=verdict.policy_version,
            constitution_hash=verdict.constitution_hash,
        )
