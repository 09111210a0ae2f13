"""Policy metrics, named as docs/architecture.md documents them.

- policy_blocked_total{action,tenant,persona,tool}: actions a gate blocked (denied or
  engine failure).
- requeue_pending_total: gauge, pending requeue items in the Redis index as last seen by
  this process (set by the retry job on each pass, moved by gates and resolves between).
- policy_decision_seconds{outcome}: client-side decision latency, cache hits included.
- policy_canary_would_block_total{tenant}: decisions canary mode let through that would
  have been blocked.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

POLICY_BLOCKED = Counter(
    "policy_blocked_total",
    "Actions blocked by a policy gate, by action, tenant, persona and tool ('-' for a memory"
    " action: its namespaces are not a bounded set).",
    ["action", "tenant", "persona", "tool"],
)
REQUEUE_PENDING = Gauge("requeue_pending_total", "Requeue items waiting (pending).")
DECISION_SECONDS = Histogram(
    "policy_decision_seconds",
    "Policy decision latency seen by the client, in seconds.",
    ["outcome"],
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0),
)
CANARY_WOULD_BLOCK = Counter(
    "policy_canary_would_block_total",
    "Decisions that canary mode let through but would have blocked.",
    ["tenant"],
)
