"""The hash-chained audit log: appends chain, UPDATE is refused, tampering is found."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from somaagent.adapters.postgres.audit import PostgresAuditLog
from somaagent.adapters.postgres.migrations import upgrade
from somaagent.devstack import Stack
from somaagent.domain.policy import GENESIS_HASH, AuditEvent, audit_hash
from somaagent.settings import CommonSettings, repo_root


def _event(n: int) -> AuditEvent:
    return AuditEvent(
        actor=f"user:admin{n}",
        tenant_id="t1",
        action="requeue.allowed",
        subject_id=f"rq-{n}",
        reason=f"reason {n}",
        verdict_before={"allow": False, "reasons": ["no"]},
        verdict_after={"allow": True, "reasons": []},
    )


def test_hash_covers_every_field_and_the_previous_hash() -> None:
    event = _event(1)
    base = audit_hash(GENESIS_HASH, event)
    assert base == audit_hash(GENESIS_HASH, AuditEvent.model_validate(event.model_dump()))
    assert audit_hash("1" * 64, event) != base
    assert audit_hash(GENESIS_HASH, event.model_copy(update={"reason": "other"})) != base
    moved = event.model_copy(update={"occurred_at": datetime(2020, 1, 1, tzinfo=UTC)})
    assert audit_hash(GENESIS_HASH, moved) != base


@pytest.fixture
async def audit_schema(stack: Stack, settings: CommonSettings) -> AsyncIterator[str]:
    """A schema of its own, so tampering cannot disturb other tests' chains."""
    schema = f"audit_{uuid.uuid4().hex[:10]}"
    await upgrade(settings.postgres.dsn(), repo_root() / "migrations", schema)
    yield schema
    conn = await asyncpg.connect(settings.postgres.dsn())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _soma_audit_verify(schema: str) -> tuple[int, str]:
    soma = Path(sys.executable).parent / "soma"
    proc = await asyncio.create_subprocess_exec(
        str(soma),
        "audit",
        "verify",
        "--schema",
        schema,
        env={**os.environ, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return int(proc.returncode or 0), out.decode()


async def test_tampered_row_fails_soma_audit_verify(
    audit_schema: str, settings: CommonSettings
) -> None:
    pool = await asyncpg.create_pool(
        settings.postgres.dsn(),
        min_size=1,
        max_size=2,
        server_settings={"search_path": audit_schema},
    )
    try:
        log = PostgresAuditLog(pool)
        records = [await log.append(_event(n)) for n in range(4)]
        assert records[0].prev_hash == GENESIS_HASH
        assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
        code, out = await _soma_audit_verify(audit_schema)
        assert code == 0, out
        assert "intact: 4 rows" in out

        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute(
                "UPDATE audit_log SET reason = 'edited' WHERE seq = $1", records[2].seq
            )
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
            await conn.execute(
                "UPDATE audit_log SET reason = 'edited' WHERE seq = $1", records[2].seq
            )
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change")
        code, out = await _soma_audit_verify(audit_schema)
        assert code == 1
        assert f"seq={records[2].seq}" in out
        assert records[2].event.event_id in out
        report = await log.verify()
        assert report.first_bad is not None and report.first_bad.seq == records[2].seq
    finally:
        await pool.close()
