"""A slow attempt is not a dead one: when a redelivery restarts a turn's step while the first
attempt still runs (its worker was fenced out of the group, not killed), the older attempt's
next write is refused, so only the newest attempt can finish the turn and tell the user.

Found by the fault campaign (bench/faults.py): with Kafka restarts and worker kills during
tool turns, attempts 2 and 3 of one turn both sent `completed` to the session's stream.
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from somaagent.adapters.postgres.turn_state import PostgresTurnStates
from somaagent.domain.errors import SupersededError
from somaagent.domain.turn_state import TurnState


async def test_an_attempt_superseded_by_a_restart_cannot_write_the_turn(
    pg_pool: asyncpg.Pool,
) -> None:
    turns = PostgresTurnStates(pg_pool)
    fresh = TurnState(
        correlation_id=uuid.uuid4().hex,
        session_id=f"sess-{uuid.uuid4().hex[:8]}",
        tenant_id="tenant-fence",
        inbound_event_id=uuid.uuid4().hex,
        user_text="hello",
    )
    claim, first = await turns.claim_inbound(fresh.model_copy())
    assert (claim, first.attempt) == ("new", 1)
    claim, second = await turns.claim_inbound(fresh.model_copy())  # redelivered meanwhile
    assert (claim, second.attempt) == ("restart", 2)

    first.status = "completed"
    with pytest.raises(SupersededError, match="attempt 1 was superseded"):
        await turns.save(first)
    stored = await turns.get(fresh.correlation_id)
    assert stored is not None and (stored.status, stored.attempt) == ("running", 2)

    second.status = "completed"
    await turns.save(second)  # the newest attempt finishes the turn
    stored = await turns.get(fresh.correlation_id)
    assert stored is not None and (stored.status, stored.attempt) == ("completed", 2)
