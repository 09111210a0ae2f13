"""The claim lease of a running tool call, kept alive by a heartbeat while it runs.

    async with LeaseKeeper(ledger, call, owner, lease_s):
        result = await executor.execute(...)     # lease renewed every lease_s / 3

A claim lasts `lease_s` (15 s by default) and the owner renews it while the call runs, so
a long call is never taken over while its executor lives, and a call whose executor was
killed is taken over (reported failed, not re-run) within about `lease_s` of the kill. A
redelivery that finds the call running elsewhere waits (`wait_while_busy`) until the owner
stores the result or its lease runs out, instead of dropping the request.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import structlog

from somaagent.domain.errors import SomaError
from somaagent.domain.tools import Claim, ExecutionLedger, ToolCall

log = structlog.get_logger(__name__)

#: Heartbeats per lease: the lease survives two missed renewals in a row.
BEATS_PER_LEASE = 3


class LeaseKeeper:
    """Renews the claim of `call` every lease_s / BEATS_PER_LEASE until the block ends."""

    def __init__(self, ledger: ExecutionLedger, call: ToolCall, owner: str, lease_s: float):
        self._ledger = ledger
        self._call = call
        self._owner = owner
        self._lease_s = lease_s
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseKeeper:
        self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._lease_s / BEATS_PER_LEASE)
            try:
                held = await self._ledger.renew(self._call, self._owner, self._lease_s)
            except SomaError as exc:  # PostgreSQL trouble: try again at the next beat
                log.warning("tool.lease.renew_failed", request_id=self._call.request_id,
                            error=exc.message)  # fmt: skip
                continue
            if not held:  # taken over after missed beats: our result loses to the stored one
                log.warning("tool.lease.lost", request_id=self._call.request_id)
                return


async def wait_while_busy(
    ledger: ExecutionLedger, call: ToolCall, owner: str, lease_s: float
) -> Claim:
    """Claim `call` again every lease_s / BEATS_PER_LEASE while another live executor runs
    it; returns once the owner stored its result ("done") or stopped renewing ("abandoned")."""
    while True:
        await asyncio.sleep(lease_s / BEATS_PER_LEASE)
        claim = await ledger.claim(call, owner, lease_s)
        if claim.state != "busy":
            return claim
