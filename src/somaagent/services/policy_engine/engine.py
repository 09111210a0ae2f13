"""The policy engine: OPA for payload rules and OpenFGA for the relationships OPA names.

OPA names the checks, so the first decision of a kind asks OPA, then OpenFGA. The checks
depend on the tenant, persona, action and resource (never the payload), so the engine
remembers them per (constitution hash, tenant, persona, action, resource) and later
decisions of that kind ask OPA and OpenFGA at the same time. The verdict always uses the
checks OPA names now: when they differ from the remembered ones, the rest is asked after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog
from prometheus_client import Histogram

from somaagent.adapters.opa import OpaClient, OpaDecision, RelationCheck
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
#: How many decision kinds' checks are remembered (the memo is emptied when it is full).
MAX_PLANS = 10_000
_PlanKey = tuple[str, str, str, str, str]


class PolicyEngine:
    """Answers PolicyRequests; raises BackendError when OPA or OpenFGA cannot answer."""

    def __init__(self, opa: OpaClient, fga: OpenFgaClient, watch: ConstitutionWatch) -> None:
        self.opa = opa
        self.fga = fga
        self.watch = watch
        #: The checks OPA last named per (hash, tenant, persona, action, resource).
        self.plans: dict[_PlanKey, tuple[RelationCheck, ...]] = {}

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
        decision, answers = await self._decide(request, chash)
        reasons = list(decision.reasons)
        if decision.allow:
            reasons += [
                f"relationship missing: {c.user} is not {c.relation} of {c.object}"
                for c in decision.checks
                if not answers[c]
            ]
        verdict = PolicyVerdict(
            allow=decision.allow and not reasons,
            reasons=reasons,
            policy_version=decision.policy_version,
            constitution_hash=chash,
        )
        self._log(request, verdict)
        return verdict

    async def _decide(
        self, request: PolicyRequest, chash: str
    ) -> tuple[OpaDecision, dict[RelationCheck, bool]]:
        """OPA's decision and OpenFGA's answer to each check it names (none on a deny)."""
        key = (chash, request.tenant, request.persona, request.action, request.resource)
        planned = self.plans.get(key, ())
        decision, answers = await asyncio.gather(self._opa(request), self._check(planned))
        self._remember(key, tuple(decision.checks))
        if decision.allow:
            rest = [c for c in decision.checks if c not in answers]
            answers |= await self._check(rest)
        return decision, answers

    def _remember(self, key: _PlanKey, checks: tuple[RelationCheck, ...]) -> None:
        if key not in self.plans and len(self.plans) >= MAX_PLANS:
            self.plans.clear()
        self.plans[key] = checks

    async def _opa(self, request: PolicyRequest) -> OpaDecision:
        started = time.perf_counter()
        decision = await self.opa.decide(request.model_dump(mode="json"))
        LAYER_SECONDS.labels("opa").observe(time.perf_counter() - started)
        return decision

    async def _check(self, checks: Sequence[RelationCheck]) -> dict[RelationCheck, bool]:
        if not checks:
            return {}
        started = time.perf_counter()
        answers = await self.fga.check_all((c.user, c.relation, c.object) for c in checks)
        LAYER_SECONDS.labels("openfga").observe(time.perf_counter() - started)
        return dict(zip(checks, answers, strict=True))

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
