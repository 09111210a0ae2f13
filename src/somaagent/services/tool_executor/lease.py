"""The claim lease of a running tool call, kept alive by a heartbeat while it runs.

    async with kept_lease(ledger, call, owner, lease_s):
        result = await executor.execute(...)     # lease renewed every lease_s / 3

A claim lasts `lease_s` (15 s by default) and the owner renews it while the call runs, so
a long call is never taken over while its executor lives, and a call whose executor was
killed is taken over (reported failed, not re-run) within about `lease_s` of the kill. A
redelivery that finds the call running elsewhere waits (`wait_while_busy`) until the owner
stores the result or its lease runs out, instead of dropping the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from somaagent.domain.errors import SomaError
from somaagent.domain.tools import Claim, ExecutionLedger, ToolCall

log = structlog.get_logger(__name__)

#: Heartbeats per lease: the lease survives two missed renewals in a row.
BEATS_PER_LEASE = 3


@asynccontextmanager
async def kept_lease(
    ledger: ExecutionLedger, call: ToolCall, owner: str, lease_s: float
) -> AsyncIterator[None]:
    """Renew the claim of `call` every lease_s / BEATS_PER_LEASE until the block ends."""
    beat = asyncio.create_task(_beat(ledger, call, owner, lease_s))
    try:
        yield
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)


async def _beat(ledger: ExecutionLedger, call: ToolCall, owner: str, lease_s: float) -> None:
    while True:
        await asyncio.sleep(lease_s / BEATS_PER_LEASE)
        try:
            held = await ledger.renew(call, owner, lease_s)
        except SomaError as exc:  # PostgreSQL trouble: try again at the next beat
            log.warning("tool.lease.renew_failed", request_id=call.request_id, error=exc.message)
            continue
        if not held:  # taken over after missed beats: our result loses to the stored one
            log.warning("tool.lease.lost", request_id=call.request_id)
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
