"""Prometheus scraping a real platform: a turn whose tool call the policy blocks, an admin
allows, the sandbox runs and the model answers; a plain chat turn the model streams (the
tool turn's answer is not streamed, so it has no time to first token); and a malformed
record dead-lettered.
Every seed metric must then have grown in Prometheus' own HTTP API, every dashboard
query over metrics that exist must return data, and no log line of the run may hold what
the user typed or an API key."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from application.policy.conftest import free_port
from services.conversation_worker.conftest import running_worker, watch_turn
from services.conversation_worker.test_tool_turns import running_executor
from services.gateway.conftest import new_tenant, start_gateway, stop_gateway
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.adapters.postgres.requeue import PostgresRequeueStore
from somaagent.application.policy import HttpPolicyClient
from somaagent.application.policy.requeue import RequeueService
from somaagent.devstack.process import spawn, stop_pid, wait_ready
from somaagent.devstack.prometheus import (
    ScrapeTarget,
    prometheus_argv,
    prometheus_ready,
    render_config,
)
from somaagent.domain.constants import dlq_topic
from somaagent.services.conversation_worker import WorkerSettings
from somaagent.services.conversation_worker.settings import WorkerTopics
from somaagent.services.gateway import GatewaySection, GatewaySettings
from somaagent.settings import CommonSettings

from .dashboards import dashboards, expressions, metric_names

# worded so the injection tag stays under its threshold (see test_policy_turns.py)
SECRET_CODE = "use python to print the string AKIAIOSFODNN7EXAMPLE"
CHAT_TEXT = "Say OK, Quentin."
#: Counted only when something goes wrong (a kill, a redelivery) or in canary mode.
EVENT_ONLY = {"sandbox_kills_total", "tool_requests_redelivered_total"}
EVENT_ONLY |= {"policy_canary_would_block_total"}


@dataclass
class Prom:
    url: str

    async def query(self, expr: str) -> list[dict[str, object]]:
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.get(f"{self.url}/api/v1/query", params={"query": expr})
        body = resp.json()
        assert body["status"] == "success", (expr, body)
        return list(body["data"]["result"])

    async def value(self, expr: str) -> float:
        """The sum of an instant vector; 0 when it is empty (no such series yet)."""
        return sum(float(r["value"][1]) for r in await self.query(expr))  # type: ignore[index]

    async def names(self) -> set[str]:
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.get(f"{self.url}/api/v1/label/__name__/values")
        return set(resp.json()["data"])

    async def wait(self, expr: str, *, above: float, timeout_s: float = 30.0) -> float:
        """The query's value once it is above `above` (or the last one seen at the deadline)."""
        deadline = time.monotonic() + timeout_s
        while True:
            seen = await self.value(expr)
            if seen > above or time.monotonic() > deadline:
                return seen
            await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def running_prometheus(targets: list[ScrapeTarget], root: Path) -> AsyncIterator[Prom]:
    """A Prometheus of the test's own, with the launcher's config generator and argv."""
    port = free_port()
    config = root / "prometheus.yml"
    config.write_text(render_config(targets, interval_s=1))
    log, pidfile = root / "prometheus.log", root / "prometheus.pid"
    pid = spawn(prometheus_argv(config, root / "data", port), log, pidfile)
    try:
        await asyncio.to_thread(wait_ready, "prometheus", lambda: prometheus_ready(port), 30, log)
        prom = Prom(f"http://127.0.0.1:{port}")
        jobs = {t.job for t in targets}
        assert await prom.wait(f'count(up{{job=~"{"|".join(jobs)}"}} == 1)', above=len(jobs) - 1)
        yield prom
    finally:
        await asyncio.to_thread(stop_pid, pid, "prometheus")


#: The seed metrics as Prometheus queries whose value must grow during the test.
GROWING = {
    "conversation_requests_total": "sum(conversation_requests_total)",
    "conversation_latency_seconds": "sum(conversation_latency_seconds_count)",
    "slm_intent_duration_seconds": "sum(slm_intent_duration_seconds_count)",
    "tool_execution_duration_seconds": "sum(tool_execution_duration_seconds_count)",
    "policy_blocked_total": "sum(policy_blocked_total)",
    "model_ttft_seconds": "sum(model_ttft_seconds_count)",
    "model_tokens_per_second": "sum(model_tokens_per_second_count)",
    "model_completion_tokens_total": "sum(model_completion_tokens_total)",
    "sandbox_starts_total": 'sum(sandbox_starts_total{backend="bwrap"})',
    "policy_engine_layer_seconds": "sum(policy_engine_layer_seconds_count)",
    "gateway_messages_published": "sum(soma_gateway_messages_published_total)",
}


@pytest.mark.timeout(600)
async def test_prometheus_sees_every_seed_metric_of_a_blocked_tool_turn(
    settings: CommonSettings,
    topics: WorkerTopics,
    worker_settings: WorkerSettings,
    pg_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    section = worker_settings.worker.model_copy(update={"metrics_port": free_port()})
    worker = worker_settings.model_copy(update={"worker": section})  # serves its /metrics
    gateway_settings = GatewaySettings(
        kafka=settings.kafka,
        postgres=settings.postgres,
        redis=settings.redis,
        gateway=GatewaySection(inbound_topic=topics.inbound, outbound_topic=topics.outbound),
    )
    store = PostgresRequeueStore(pg_pool, redis_client, key_prefix=settings.redis.key_prefix)
    async with (
        running_worker(worker),
        running_executor(worker),
        OpenFgaClient(settings.openfga) as fga,
        HttpPolicyClient(worker.policy) as policy,
        KafkaEventBus(settings.kafka) as bus,
    ):
        gateway = await start_gateway(gateway_settings)
        try:
            targets = [
                ScrapeTarget("gateway", urlparse(gateway.base_url).port or 0),
                ScrapeTarget("conversation-worker", worker.worker.metrics_port),
                ScrapeTarget("policy-engine", urlparse(worker.policy.url).port or 0, "/metrics/"),
                ScrapeTarget("llm", settings.llm.dialogue_port),
            ]
            async with running_prometheus(targets, tmp_path) as prom:
                before = {name: await prom.value(q) for name, q in GROWING.items()}
                tenant = await new_tenant(ApiKeyStore(pg_pool), fga, "obs")
                chat = await post_message(gateway.base_url, tenant.key, CHAT_TEXT)  # streamed
                correlation = await post_message(gateway.base_url, tenant.key, SECRET_CODE)
                waiting = await watch_turn(
                    settings,
                    topics.outbound,
                    correlation,
                    until=lambda u: u["status"] in {"waiting_for_policy", "completed", "error"},
                )
                assert waiting.final()["status"] == "waiting_for_policy", waiting.updates[-3:]
                assert await prom.wait("max(requeue_pending_total)", above=0) >= 1

                (item,) = await store.list_items(tenant.tenant_id, status="pending")
                await RequeueService(store, policy, bus, fga).resolve(
                    item.id, tenant_id=tenant.tenant_id, subject="root", decision="allow",
                    reason="test key, harmless",
                )  # fmt: skip
                for turn in (correlation, chat):
                    done = await watch_turn(settings, topics.outbound, turn)
                    assert done.final()["status"] == "completed", done.updates[-3:]
                await bus.publish_raw(topics.inbound, b"obs", b"not an envelope", {})

                # one process here: the policy-engine job scrapes the same registry again
                dlq_labels = f'job="conversation-worker",topic="{dlq_topic(topics.inbound)}"'
                dlq = f"sum(kafka_dlq_records_total{{{dlq_labels}}})"
                assert await prom.wait(dlq, above=0) == 1
                for name, query in GROWING.items():
                    assert await prom.wait(query, above=before[name]) > before[name], name
                lag = await prom.query(f'kafka_consumer_lag{{topic="{topics.inbound}"}}')
                assert lag and all(r["metric"]["group"] == worker.worker.group_id for r in lag)  # type: ignore[index]
                await dashboards_show_data(prom)
                await seed_labels_name_the_turn(prom, tenant.tenant_id)
        finally:
            await stop_gateway(gateway)
    logs = capfd.readouterr()
    logged = logs.out + logs.err
    assert "worker.event.handled" in logged  # the processes' logs were captured
    for private in (SECRET_CODE, "AKIAIOSFODNN7EXAMPLE", CHAT_TEXT, tenant.key, tenant.admin_key):
        assert private not in logged  # nothing the user typed, no API key


#: The labels each seed metric may carry: bounded sets only (no session or turn ids).
SEED_LABELS = {
    "conversation_requests_total": {"status", "tenant", "persona", "profile"},
    "conversation_latency_seconds_count": {"status", "tenant", "persona", "profile"},
    "slm_intent_duration_seconds_count": {"status", "persona"},
    "tool_execution_duration_seconds_count": {"tool", "status", "tenant"},
    "policy_blocked_total": {"action", "tenant", "persona", "tool"},
    "requeue_pending_total": set(),
}
SCRAPE_LABELS = {"__name__", "job", "instance", "service", "process"}


async def seed_labels_name_the_turn(prom: Prom, tenant: str) -> None:
    """The seed metrics carry tenant, persona, profile, tool and outcome where they apply,
    and nothing else; this run's turns show up under its tenant."""
    for name, allowed in SEED_LABELS.items():
        series = await prom.query(name)
        assert series, name
        for s in series:
            assert set(s["metric"]) - SCRAPE_LABELS == allowed, (name, s["metric"])  # type: ignore[arg-type]
    mine = f'tenant="{tenant}",persona="default"'
    completed = await prom.query(f'conversation_requests_total{{{mine},status="completed"}}')
    assert {s["metric"]["profile"] for s in completed} - {"none"}, completed  # type: ignore[index]
    blocked = f'policy_blocked_total{{{mine},action="tool.request",tool="code_execution"}}'
    assert await prom.value(blocked) >= 1
    ran = f'tool_execution_duration_seconds_count{{tenant="{tenant}",tool="code_execution"}}'
    assert await prom.value(ran) >= 1


async def post_message(base_url: str, key: str, text: str) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
        session = (await client.post("/v1/sessions", json={})).json()["session_id"]
        sent = await client.post(f"/v1/sessions/{session}/messages", json={"text": text})
    assert sent.status_code == 202, sent.text
    return str(sent.json()["correlation_id"])


async def dashboards_show_data(prom: Prom) -> None:
    """Each panel query over scraped metrics returns series; the only metrics not scraped
    are the ones counted on failures (kills, redeliveries) or in canary mode."""
    scraped = await prom.names()
    missing: set[str] = set()
    empty = []
    for board in dashboards().values():
        for title, expr in expressions(board):
            absent = metric_names(expr) - scraped
            missing |= absent
            if not absent and not await prom.query(expr):
                empty.append((title, expr))
    assert not empty
    assert missing <= EVENT_ONLY, missing - EVENT_ONLY
