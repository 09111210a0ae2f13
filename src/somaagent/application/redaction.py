"""The content check of tool output: secrets are redacted before anyone sees or stores them.

The tool executor passes every result through `OutputRedactor.clean` before the ledger
stores it and before it is published, so the model, the user, the event store and the
ledger only ever hold the redacted text. Each redaction is counted
(`tool_output_redactions_total{tool,kind}`) and audited (`tool.output.redacted`, naming
the request, the fields and the kinds of secret, never the secret itself).
"""

from __future__ import annotations

import json
from collections import Counter as Tally
from pathlib import Path
from typing import Protocol

import structlog
from prometheus_client import Counter

from somaagent.domain.policy import AuditEvent
from somaagent.domain.secrets import SecretScanner
from somaagent.domain.tools import ToolCall, ToolResult

log = structlog.get_logger(__name__)

REDACTIONS = Counter(
    "tool_output_redactions_total",
    "Secrets redacted from tool output before the model or a user saw it, by tool and kind.",
    ["tool", "kind"],
)
ACTOR = "service:tool-executor"


class AuditSink(Protocol):
    async def append(self, event: AuditEvent) -> object: ...


def scanner_from_policies(policies_root: Path) -> SecretScanner:
    """A scanner on the C1 patterns the policy engine enforces (one list, in policies/)."""
    data = json.loads((policies_root / "opa" / "soma" / "config" / "data.json").read_text())
    return SecretScanner(data["secret_patterns"])


class OutputRedactor:
    def __init__(self, scanner: SecretScanner, audit: AuditSink) -> None:
        self.scanner = scanner
        self.audit = audit

    async def clean(self, call: ToolCall, result: ToolResult) -> ToolResult:
        """`result` with secrets redacted in stdout, stderr, reason and data."""
        found: dict[str, list[str]] = {}
        update: dict[str, object] = {}
        for name in ("stdout", "stderr", "reason"):
            text = getattr(result, name)
            if text:
                done = self.scanner.redact(text)
                if done.kinds:
                    found[name], update[name] = done.kinds, done.text
        if result.data is not None:
            kinds: list[str] = []
            data = self.scanner.redact_data(result.data, kinds)
            if kinds:
                found["data"], update["data"] = kinds, data
        if not found:
            return result
        await self._record(call, found)
        return result.model_copy(update=update)

    async def _record(self, call: ToolCall, found: dict[str, list[str]]) -> None:
        tally = Tally(kind for kinds in found.values() for kind in kinds)
        for kind, count in tally.items():
            REDACTIONS.labels(call.tool, kind).inc(count)
        summary = ", ".join(f"{kind} x{count}" for kind, count in sorted(tally.items()))
        fields = ", ".join(sorted(found))
        await self.audit.append(
            AuditEvent(
                actor=ACTOR,
                tenant_id=call.tenant_id,
                action="tool.output.redacted",
                subject_id=call.request_id,
                reason=f"{call.tool} output: {summary} redacted in {fields}",
            )
        )
        log.warning(
            "tool.output.redacted",
            tool=call.tool,
            request_id=call.request_id,
            kinds=sorted(tally),
            fields=sorted(found),
        )
