"""One turn with a tool, traced across five real processes: the gateway, the conversation
worker, the policy engine, the tool executor (each a process of its own, started the way
the launcher starts them, with SOMA_TELEMETRY__ENABLED) and an OPA of the test's own with
its distributed tracing on. Every one exports OTLP/HTTP to a receiver that decodes the
protobuf requests. The turn must be one trace: one root (the gateway's request), every
other span's parent in the trace, and the hops in causal order. The processes' logs are
JSON lines carrying the trace and the turn's ids, and hold neither the user's message nor
the API key."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from application.policy.conftest import free_port
from devstack.test_scale_out import free_ports
from services.conversation_worker.conftest import watch_turn
from services.gateway.conftest import new_tenant
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.postgres.api_keys import ApiKeyStore
from somaagent.devstack.kafka import ensure_topics
from somaagent.devstack.opa import OpaService
from somaagent.devstack.platform import soma_argv
from somaagent.devstack.process import pid_alive, port_open, spawn, stop_pid, wait_ready
from somaagent.devstack.service import StackContext
from somaagent.domain.constants import dlq_topic
from somaagent.settings import CommonSettings, OpaSettings, TelemetrySettings

from .otlp_receiver import OtlpReceiver, ReceivedSpan, running_receiver
from .test_platform_metrics import post_message

TEXT = "execute this python code: print(6*7)"
CONSUMER = Span.SPAN_KIND_CONSUMER
SERVICES = {"gateway", "conversation-worker", "policy-engine", "tool-executor", "opa"}
#: The executor with the test's topics and group (`soma worker tools` reads the stack's).
EXECUTOR = (
    "import asyncio, signal, sys\n"
    "from somaagent.services.tool_executor import ToolExecutorService, ToolExecutorSettings\n"
    "from somaagent.telemetry.sdk import start_telemetry\n"
    "async def main(requests, results, group):\n"
    "    settings = ToolExecutorSettings()\n"
    "    start_telemetry(settings, 'tool-executor')\n"
    "    async with ToolExecutorService(\n"
    "        settings, requests_topic=requests, results_topic=results, group_id=group\n"
    "    ) as service:\n"
    "        stop = lambda: asyncio.ensure_future(service.shutdown())\n"
    "        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)\n"
    "        await service.run()\n"
    "asyncio.run(main(*sys.argv[1:]))\n"
)


@dataclass
class Platform:
    root: Path
    ports: dict[str, int]
    topics: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def start(self, name: str, argv: list[str], env: dict[str, str], ready_port: int) -> None:
        pid = spawn(argv, self.log(name), self.root / f"{name}.pid", env=env)
        self.pids[name] = pid

        def ready() -> bool:
            return port_open("127.0.0.1", ready_port)

        wait_ready(name, ready, 120, self.log(name), alive=lambda: pid_alive(pid))


def process_env(
    settings: CommonSettings, platform: Platform, receiver: OtlpReceiver
) -> dict[str, str]:
    ports, topics = platform.ports, platform.topics
    return {
        "SOMA_POSTGRES__DB_SCHEMA": settings.postgres.db_schema,
        "SOMA_TELEMETRY__ENABLED": "true",
        "SOMA_TELEMETRY__ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # the SDK's batch delay, read from the environment
        "SOMA_OPA__URL": f"http://127.0.0.1:{ports['opa']}",
        "SOMA_POLICY__URL": f"http://127.0.0.1:{ports['policy-engine']}",
        "SOMA_POLICY__CACHE_TTL_S": "0",
        "SOMA_TOPICS__INBOUND": topics["inbound"],
        "SOMA_TOPICS__OUTBOUND": topics["outbound"],
        "SOMA_TOPICS__TOOL_REQUESTS": topics["tool_requests"],
        "SOMA_TOPICS__TOOL_RESULTS": topics["tool_results"],
        "SOMA_GATEWAY__INBOUND_TOPIC": topics["inbound"],
        "SOMA_GATEWAY__OUTBOUND_TOPIC": topics["outbound"],
        "SOMA_WORKER__GROUP_ID": topics["group"],
        "SOMA_WORKER__METRICS_PORT": str(ports["conversation-worker"]),
        "SOMA_WORKER__ANSWER_MAX_TOKENS": "48",
        # on a loaded machine the 0.25 s default can miss the intent, and with it the tool
        "SOMA_WORKER__SLM_EMBED_TIMEOUT_S": "5",
        "SOMA_TOOLS__METRICS_PORT": str(ports["tool-executor"]),
    }


def traced_opa(receiver: OtlpReceiver, root: Path) -> OpaService:
    """An OPA of the test's own, started by the launcher's OpaService with telemetry on
    (so with its distributed tracing flags), on free ports (API and diagnostics)."""
    port = free_ports(2)
    settings = CommonSettings(
        state_dir=root / "opa-state",
        opa=OpaSettings(url=f"http://127.0.0.1:{port}"),
        telemetry=TelemetrySettings(enabled=True, endpoint=receiver.endpoint),
    )
    return OpaService(StackContext(settings))


@contextlib.asynccontextmanager
async def traced_platform(
    settings: CommonSettings, receiver: OtlpReceiver, root: Path
) -> AsyncIterator[Platform]:
    run = uuid.uuid4().hex[:8]
    topics = {
        n: f"test.trace.{run}.{n}" for n in ("inbound", "outbound", "tool_requests", "tool_results")
    }
    names = list(topics.values())
    await ensure_topics(settings.kafka.bootstrap, [*names, *map(dlq_topic, names)], 2)
    topics["group"] = f"test-trace-{run}"
    opa = traced_opa(receiver, root)
    kinds = ("policy-engine", "tool-executor", "conversation-worker", "gateway")
    platform = Platform(root, {"opa": opa.port, **{k: free_port() for k in kinds}}, topics)
    env = process_env(settings, platform, receiver)
    ports = platform.ports
    executor = [sys.executable, "-c", EXECUTOR, topics["tool_requests"], topics["tool_results"]]
    steps = [
        ("policy-engine", soma_argv("policy-engine", "--port", str(ports["policy-engine"]))),
        ("tool-executor", [*executor, topics["group"] + "-tools"]),
        ("conversation-worker", soma_argv("worker", "conversation")),
        ("gateway", soma_argv("gateway", "--port", str(ports["gateway"]))),
    ]
    try:
        assert await asyncio.to_thread(opa.up) == "started"
        for name, argv in steps:
            await asyncio.to_thread(platform.start, name, argv, env, ports[name])
        yield platform
    finally:
        for name, pid in reversed(platform.pids.items()):
            await asyncio.to_thread(stop_pid, pid, name)
        await asyncio.to_thread(opa.down)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with running_receiver() as r:
        yield r


@pytest.mark.timeout(600)
async def test_one_turn_with_a_tool_is_one_trace_across_five_processes(
    settings: CommonSettings,
    pg_pool: asyncpg.Pool,
    seeded_profiles: None,
    receiver: OtlpReceiver,
    tmp_path: Path,
) -> None:
    async with (
        OpenFgaClient(settings.openfga) as fga,
        traced_platform(settings, receiver, tmp_path) as platform,
    ):
        tenant = await new_tenant(ApiKeyStore(pg_pool), fga, "trace")
        correlation = await post_message(platform.gateway_url, tenant.key, TEXT)
        watch = await watch_turn(settings, platform.topics["outbound"], correlation)
        assert watch.final()["status"] == "completed", watch.updates[-3:]
        statuses = [u["status"] for u in watch.updates]
        assert "calling_tool" in statuses and "tool_result" in statuses
        spans = await whole_trace(receiver)
    check_trace(spans)
    check_logs(platform, tenant.tenant_id, correlation, [TEXT, tenant.key, tenant.admin_key])


def message_span(receiver: OtlpReceiver) -> ReceivedSpan | None:
    with receiver.lock:
        return next(
            (s for s in receiver.spans if s.name == "POST /v1/sessions/{session_id}/messages"),
            None,
        )


async def whole_trace(receiver: OtlpReceiver, timeout_s: float = 60.0) -> list[ReceivedSpan]:
    """The message's trace once every service sent spans and every parent arrived."""
    deadline = time.monotonic() + timeout_s
    spans: list[ReceivedSpan] = []
    while time.monotonic() < deadline:
        root = message_span(receiver)
        if root is not None:
            spans = receiver.trace(root.trace_id)
            ids = {s.span_id for s in spans}
            complete = all(s.parent_id in ids for s in spans if s.parent_id)
            # the worker's second record (the tool's result) ends last, after `completed`
            records = [
                s for s in spans if s.service == "conversation-worker" and s.kind == CONSUMER
            ]
            if complete and len(records) >= 2 and {s.service for s in spans} >= SERVICES:
                return spans
        await asyncio.sleep(0.5)
    return spans


def check_trace(spans: list[ReceivedSpan]) -> None:
    by_id = {s.span_id: s for s in spans}
    assert {s.service for s in spans} >= SERVICES, sorted({(s.service, s.name) for s in spans})
    roots = [s for s in spans if not s.parent_id]
    assert [(r.service, r.name) for r in roots] == [
        ("gateway", "POST /v1/sessions/{session_id}/messages")
    ]
    missing = [(s.service, s.name) for s in spans if s.parent_id and s.parent_id not in by_id]
    assert not missing, missing

    def first(service: str, prefix: str, after: ReceivedSpan | None = None) -> ReceivedSpan:
        found = sorted(
            (s for s in spans if s.service == service and s.name.startswith(prefix)),
            key=lambda s: s.start_ns,
        )
        found = [s for s in found if after is None or s.start_ns >= after.start_ns]
        assert found, (service, prefix, sorted((s.service, s.name) for s in spans))
        return found[0]

    def descends(span: ReceivedSpan, ancestor: ReceivedSpan) -> bool:
        while span.parent_id:
            span = by_id[span.parent_id]
            if span.span_id == ancestor.span_id:
                return True
        return False

    gateway = roots[0]
    inbound = first("conversation-worker", "process test.trace.")
    engine = first("policy-engine", "POST /v1/evaluate")
    opa = first("opa", "")
    executor = first("tool-executor", "process test.trace.")
    tool = first("tool-executor", "tool code_execution")
    resumed = first("conversation-worker", "process test.trace.", after=tool)
    answer = first("conversation-worker", "chat ", after=resumed)
    chain = [gateway, inbound, engine, opa, executor, tool, resumed, answer]
    starts = [s.start_ns for s in chain]
    assert starts == sorted(starts), [(s.service, s.name) for s in chain]
    # each hop is caused by the one before it: the executor's record and the resumed
    # turn's record were published while the worker's and the executor's spans were current
    causes = [
        (inbound, gateway),
        (engine, inbound),
        (opa, engine),
        (executor, inbound),
        (tool, executor),
        (resumed, executor),
        (answer, resumed),
    ]
    for child, parent in causes:
        assert descends(child, parent), (child.service, child.name, parent.name)
    assert inbound.attributes["messaging.system"] == "kafka"


def check_logs(platform: Platform, tenant: str, correlation: str, private: list[str]) -> None:
    lines = {}
    for name in ("policy-engine", "tool-executor", "conversation-worker", "gateway"):
        text = platform.log(name).read_text()
        for secret in private:
            assert secret not in text, (name, "holds what the user typed or a key")
        lines[name] = [json.loads(line) for line in text.splitlines() if line.strip()]
    handled = [e for e in lines["conversation-worker"] if e["event"] == "worker.event.handled"]
    assert handled, lines["conversation-worker"][-5:]
    for line in handled:
        assert line["tenant_id"] == tenant and line["correlation_id"] == correlation
        assert {"trace_id", "span_id", "session_id", "persona_id", "timestamp"} <= set(line)
    decisions = [e for e in lines["policy-engine"] if e["event"] == "policy.decision"]
    assert decisions and all(d["tenant_id"] == tenant for d in decisions)
    for line in decisions:
        assert {"trace_id", "span_id", "policy_version", "constitution_hash"} <= set(line)
    runs = [e for e in lines["tool-executor"] if e["event"] == "tool.run.finished"]
    assert runs and all({"trace_id", "span_id", "session_id"} <= set(r) for r in runs)
