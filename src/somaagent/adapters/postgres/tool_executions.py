"""The tool executor's ledger in PostgreSQL: claim a request before running it, once.

    ledger = PostgresExecutionLedger(pool)
    claim = await ledger.claim(call, owner="executor-1", lease_s=120)
    if claim.state == "claimed": ...run...; await ledger.finish(call, result)
    elif claim.state == "done": re-publish claim.result

The claim is an INSERT in its own transaction: exactly one claimer wins a request id. A
running claim's lease is renewed by its owner while the call runs (`renew`); one whose lease
ran out belonged to an executor that died mid-run; it is taken over as "abandoned" (the
caller reports it failed rather than running the tool again).
"""

from __future__ import annotations

import asyncpg
import orjson

from somaagent.adapters.postgres.driver_errors import translated
from somaagent.domain.constants import TABLE_TOOL_EXECUTIONS
from somaagent.domain.tools import Claim, ToolCall, ToolResult

_INSERT = (
    f"INSERT INTO {TABLE_TOOL_EXECUTIONS} (tenant_id, request_id, session_id, tool, status,"
    " owner, lease_until) VALUES ($1, $2, $3, $4, 'running', $5,"
    " now() + make_interval(secs => $6)) ON CONFLICT DO NOTHING RETURNING request_id"
)
_EXISTING = (
    f"SELECT status, result, lease_until < now() AS expired FROM {TABLE_TOOL_EXECUTIONS}"
    " WHERE tenant_id = $1 AND request_id = $2 FOR UPDATE"
)
_TAKE_OVER = (
    f"UPDATE {TABLE_TOOL_EXECUTIONS} SET owner = $3,"
    " lease_until = now() + make_interval(secs => $4) WHERE tenant_id = $1 AND request_id = $2"
)
_FINISH = (
    f"UPDATE {TABLE_TOOL_EXECUTIONS} SET status = 'done', result = $3::jsonb, finished_at = now()"
    " WHERE tenant_id = $1 AND request_id = $2 AND status = 'running' RETURNING result"
)
_RENEW = (
    f"UPDATE {TABLE_TOOL_EXECUTIONS} SET lease_until = now() + make_interval(secs => $4)"
    " WHERE tenant_id = $1 AND request_id = $2 AND owner = $3 AND status = 'running'"
    " RETURNING request_id"
)
_REOPEN = (
    f"UPDATE {TABLE_TOOL_EXECUTIONS} SET status = 'running', result = NULL, finished_at = NULL,"
    " owner = $3, lease_until = now() + make_interval(secs => $4)"
    " WHERE tenant_id = $1 AND request_id = $2 AND status = 'done'"
    " AND result->>'status' = 'denied' RETURNING request_id"
)
_RESULT = f"SELECT result FROM {TABLE_TOOL_EXECUTIONS} WHERE tenant_id = $1 AND request_id = $2"


class PostgresExecutionLedger:
    """ExecutionLedger on the `tool_executions` table."""

    def __init__(self, pool: asyncpg.Pool, timeout_s: float = 10.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def claim(self, call: ToolCall, owner: str, lease_s: float) -> Claim:
        async with (
            translated("claim tool execution"),
            self._pool.acquire(timeout=self._timeout) as conn,
            conn.transaction(),
        ):
            won = await conn.fetchval(
                _INSERT, call.tenant_id, call.request_id, call.session_id, call.tool, owner,
                lease_s, timeout=self._timeout,
            )  # fmt: skip
            if won is not None:
                return Claim(state="claimed")
            row = await conn.fetchrow(
                _EXISTING, call.tenant_id, call.request_id, timeout=self._timeout
            )
            if row is None:  # deleted between the two statements: nothing to run twice
                return Claim(state="busy")
            if row["status"] == "done":
                return Claim(state="done", result=ToolResult.model_validate_json(row["result"]))
            if not row["expired"]:
                return Claim(state="busy")
            await conn.execute(
                _TAKE_OVER, call.tenant_id, call.request_id, owner, lease_s, timeout=self._timeout
            )
            return Claim(state="abandoned")

    async def finish(self, call: ToolCall, result: ToolResult) -> ToolResult:
        """Store the result; when another executor stored one first, that one wins."""
        body = orjson.dumps(result.model_dump(mode="json")).decode()
        async with (
            translated("finish tool execution"),
            self._pool.acquire(timeout=self._timeout) as conn,
        ):
            stored = await conn.fetchval(
                _FINISH, call.tenant_id, call.request_id, body, timeout=self._timeout
            )
            if stored is None:
                stored = await conn.fetchval(
                    _RESULT, call.tenant_id, call.request_id, timeout=self._timeout
                )
        return result if stored is None else ToolResult.model_validate_json(stored)

    async def renew(self, call: ToolCall, owner: str, lease_s: float) -> bool:
        """The owner's heartbeat while the call runs; False once another executor took over."""
        async with (
            translated("renew tool execution lease"),
            self._pool.acquire(timeout=self._timeout) as conn,
        ):
            row = await conn.fetchval(
                _RENEW, call.tenant_id, call.request_id, owner, lease_s, timeout=self._timeout
            )
        return row is not None

    async def reopen(self, call: ToolCall, owner: str, lease_s: float) -> bool:
        async with (
            translated("reopen tool execution"),
            self._pool.acquire(timeout=self._timeout) as conn,
        ):
            row = await conn.fetchval(
                _REOPEN, call.tenant_id, call.request_id, owner, lease_s, timeout=self._timeout
            )
        return row is not None
