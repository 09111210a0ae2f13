"""The fault campaign's count, from the event store and the topics once all is quiet.

For every accepted turn (a 202 from the gateway):
- completed / failed: its stored `turn.completed` says `completed` or `error`; a failed
  turn is *visible* when the stored error and the outbound `error` update both carry a
  reason (what the user's stream shows);
- lost: accepted and never ended (no stored `turn.completed`);
- duplicated: two stored completions, two terminal outbound updates (`completed` or
  `error`) of different attempts, or a tool run twice for it: two different results
  on tool.results for one request id, or a request that ran (tool_executions `done`, not
  a re-published or abandoned result) but is not among the calls its completed turn kept.
Lag: what each consumer group has not committed on the topics it reads.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from somaagent.devstack.kafka import partition_counts
from somaagent.domain.constants import (
    GROUP_CONVERSATION_WORKER,
    GROUP_TOOL_EXECUTOR,
    TOPIC_CONVERSATION_INBOUND,
    TOPIC_TOOL_REQUESTS,
    TOPIC_TOOL_RESULTS,
)
from somaagent.domain.event_types import TURN_COMPLETED

GROUPS = {
    GROUP_CONVERSATION_WORKER: (TOPIC_CONVERSATION_INBOUND, TOPIC_TOOL_RESULTS),
    GROUP_TOOL_EXECUTOR: (TOPIC_TOOL_REQUESTS,),
}


@dataclass
class Count:
    accepted: int = 0
    completed: int = 0
    failed_visible: int = 0
    failed_without_reason: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    tool_runs: int = 0
    lag: dict[str, int] = field(default_factory=dict)
    failure_reasons: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "completed": self.completed,
            "failed_visible": self.failed_visible,
            "failed_without_reason": self.failed_without_reason,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "tool_runs": self.tool_runs,
            "lag": self.lag,
            "lag_total": sum(self.lag.values()),
            "failure_reasons": dict(self.failure_reasons.most_common(5)),
            "lost_ids": self.lost[:10],
            "duplicated_ids": self.duplicated[:10],
        }


async def partitions(bootstrap: str, topics: tuple[str, ...]) -> list[TopicPartition]:
    counts = await partition_counts(bootstrap, topics)
    return [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]


async def read_topic(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of `topic` from its start to its end now, as decoded envelopes."""
    parts = await partitions(bootstrap, (topic,))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[dict[str, Any]] = []
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [orjson.loads(r.value) for r in records if r.value]
        return out
    finally:
        await consumer.stop()


async def consumer_lag(bootstrap: str) -> dict[str, int]:
    """Per group: records on its topics past its committed offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        lag: dict[str, int] = {}
        for group, topics in GROUPS.items():
            committed = await admin.list_consumer_group_offsets(group)
            done = {tp: meta.offset for tp, meta in committed.items()}
            ends = await consumer.end_offsets(await partitions(bootstrap, topics))
            lag[group] = sum(end - max(done.get(tp, 0), 0) for tp, end in ends.items())
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def stored_turns(pool: asyncpg.Pool, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    rows = await pool.fetch(
        "SELECT correlation_id, body FROM events WHERE type = $1"
        " AND correlation_id = ANY($2::text[]) ORDER BY position",
        TURN_COMPLETED,
        ids,
    )
    turns: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        turns[row["correlation_id"]].append(orjson.loads(row["body"])["payload"])
    return turns


async def executed_requests(pool: asyncpg.Pool) -> dict[str, str]:
    """request id -> result status of every request the executors ran to the end."""
    rows = await pool.fetch("SELECT request_id, result FROM tool_executions WHERE status = 'done'")
    return {r["request_id"]: orjson.loads(r["result"])["status"] for r in rows}


def terminal_updates(outbound: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """correlation id -> the `completed` / `error` updates its watchers received."""
    ends: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for envelope in outbound:
        update = envelope.get("payload") or {}
        if update.get("status") in ("completed", "error"):
            ends[str(update.get("correlation_id"))].append(update)
    return ends


def tool_duplicates(
    requests: list[dict[str, Any]], results: list[dict[str, Any]], ran: dict[str, str]
) -> tuple[set[str], dict[str, set[str]]]:
    """Turns (correlation ids) with a request run twice, and each turn's requests that ran."""
    runs: dict[str, set[bytes]] = defaultdict(set)
    for envelope in results:
        result = envelope.get("payload") or {}
        runs[str(result.get("request_id"))].add(orjson.dumps(result, option=orjson.OPT_SORT_KEYS))
    twice = {rid for rid, seen in runs.items() if len(seen) > 1}
    turn_of = {
        str((e.get("payload") or {}).get("request_id")): str(e.get("correlation_id"))
        for e in requests
    }
    executed: dict[str, set[str]] = defaultdict(set)
    for rid, status in ran.items():
        if rid in turn_of and status != "denied":
            executed[turn_of[rid]].add(rid)
    return {turn_of.get(rid, rid) for rid in twice}, executed


def tally(
    ids: list[str],
    stored: dict[str, list[dict[str, Any]]],
    ends: dict[str, list[dict[str, Any]]],
    tools: tuple[set[str], dict[str, set[str]]],
) -> Count:
    """The count over the accepted turns `ids` (see the module doc)."""
    twice, executed = tools
    count = Count(accepted=len(ids), tool_runs=sum(len(v) for v in executed.values()))
    for cid in ids:
        turns = stored.get(cid, [])
        kept = {str(c.get("request_id")) for t in turns for c in t.get("tool_calls", [])}
        attempts = {u.get("attempt") for u in ends.get(cid, [])}
        if len(turns) > 1 or len(attempts) > 1 or cid in twice or executed.get(cid, set()) - kept:
            count.duplicated.append(cid)
        if not turns:
            count.lost.append(cid)
        elif turns[0].get("status") == "completed":
            count.completed += 1
        elif turns[0].get("error") and any(u.get("reason") for u in ends.get(cid, [])):
            count.failed_visible += 1
            count.failure_reasons[str(turns[0]["error"])[:80]] += 1
        else:
            count.failed_without_reason += 1
    return count
