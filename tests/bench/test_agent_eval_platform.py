"""The agent evaluation end to end: two tasks through the real gateway, worker, executor
and model; what the bench read back and how its rules judge the real replies."""

from __future__ import annotations

import re
import uuid

import asyncpg
import orjson

from bench.agent_eval import persona_context, run_task
from bench.agent_eval_client import GatewayUser, provision_tenant
from bench.agent_eval_report import TaskOutcome
from bench.agent_eval_rules import TurnRecord, reply_failures, ungrounded
from bench.agent_eval_tasks import load_tasks
from services.gateway.conftest import RunningGateway
from somaagent.settings import CommonSettings

CTX = persona_context()


async def run(platform: RunningGateway, settings: CommonSettings, *ids: str) -> list[TaskOutcome]:
    key = await provision_tenant(settings, f"eval-{uuid.uuid4().hex[:10]}", None)
    tasks = {t.id: t for t in load_tasks().tasks}
    user = GatewayUser(platform.base_url, key, turn_timeout_s=180)
    try:
        return [await run_task(user, tasks[i], CTX) for i in ids]
    finally:
        await user.aclose()


async def stored_tools(pg_pool: asyncpg.Pool, record: TurnRecord) -> list[tuple[str, str]]:
    """(tool, stdout) of the turn's stored results, read straight from the event store."""
    rows = await pg_pool.fetch(
        "SELECT body FROM events WHERE correlation_id = $1 AND type = 'tool.result.received'"
        " ORDER BY seq",
        record.correlation_id,
    )
    payloads = [orjson.loads(r["body"])["payload"] for r in rows]
    return [(p["tool"], p["stdout"]) for p in payloads]


def says_391(reply: str) -> bool:
    return re.search(r"(?<!\d)391(?!\d)", reply.replace(",", "")) is not None


async def test_bench_reads_real_turns_and_its_rules_judge_real_replies(
    platform: RunningGateway, settings: CommonSettings, pg_pool: asyncpg.Pool
) -> None:
    compute, chat = await run(platform, settings, "compute-run-print", "chat-say-ok")
    for outcome in (compute, chat):
        (turn,) = outcome.turns
        assert turn.record.status == "completed", turn.record.reason
        assert turn.record.reply.strip() and turn.timing.latency_s
        runs = [(r.tool, r.stdout) for r in turn.record.tools if r.status != "no result"]
        assert runs == await stored_tools(pg_pool, turn.record)

    record, expect = compute.turns[0].record, compute.turns[0].spec.expect
    # the number rule agrees with a plain search of the real reply, and flips when the
    # reply gains or loses the value
    assert (not reply_failures(expect, record.reply, CTX)) is says_391(record.reply)
    assert not reply_failures(expect, record.reply + " The result is 391.", CTX)
    assert reply_failures(expect, record.reply.replace("391", "").replace(",", ""), CTX)
    if record.tools and record.tools[0].stdout.strip() == "391":
        assert ungrounded(record) is not says_391(record.reply)

    chat_turn = chat.turns[0]
    tool_rule_failed = any(f.code == "unexpected_tool" for f in chat_turn.failures)
    assert tool_rule_failed is bool(chat_turn.record.tools)
    assert chat.success is (not chat_turn.failures)
