"""Several conversation workers in one consumer group: the launcher runs each with its own
name, pid file, log and metrics port; Kafka spreads the partitions; of three workers, one
killed with -9 mid-turn hands its partitions to the other two, and every turn completes
exactly once.

The workers run as `soma worker conversation`, started by the launcher (the way `soma up
--workers 3` starts them) in a state directory of the test's own, on fresh topics, a fresh
consumer group, this run's schema and free ports; the test kills only processes named by its
own pid files, never the shared stack's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from services.conversation_worker.conftest import watch_turn
from somaagent.adapters.kafka import KafkaEventBus
from somaagent.adapters.kafka.outbound_fanout import partition_for
from somaagent.devstack.kafka import ensure_topics, partition_counts
from somaagent.devstack.platform import ConversationWorkerProcess
from somaagent.devstack.process import pid_alive
from somaagent.devstack.scaling import (
    known_services,
    leftover_services,
    platform_services,
    read_layout,
    retire,
    save_layout,
)
from somaagent.devstack.service import StackContext
from somaagent.domain.constants import dlq_topic
from somaagent.domain.event_types import (
    MESSAGE_RECEIVED,
    TURN_COMPLETED,
    MessageReceived,
    make_event,
)
from somaagent.services.conversation_worker.settings import WorkerTopics
from somaagent.settings import CommonSettings, KafkaSettings, PlatformSettings

SOMA = str(Path(sys.executable).with_name("soma"))
LAUNCH = (
    "import sys\n"
    "from somaagent.devstack.platform import ConversationWorkerProcess\n"
    "from somaagent.devstack.service import StackContext\n"
    "from somaagent.settings import CommonSettings\n"
    "ctx = StackContext(CommonSettings())\n"
    "print(ConversationWorkerProcess(ctx, int(sys.argv[1])).up())\n"
)
Members = dict[str, set[tuple[str, int]]]


def test_a_layout_names_each_instance_and_gives_it_its_own_port(tmp_path: Path) -> None:
    ctx = StackContext(CommonSettings(state_dir=tmp_path))
    services = platform_services(ctx, PlatformSettings(workers=3, executors=2))
    named = [(s.name, s.port, s.pidfile.name, s.logfile.name) for s in services]
    assert [n[0] for n in named] == [
        "policy-engine",
        "tool-executor",
        "tool-executor-2",
        "conversation-worker",
        "conversation-worker-2",
        "conversation-worker-3",
        "gateway",
    ]
    workers = [n for n in named if n[0].startswith("conversation-worker")]
    assert [n[1] for n in workers] == [18301, 18302, 18303]
    assert len({n[2] for n in named}) == len({n[3] for n in named}) == len(named)
    assert KafkaSettings().partitions >= 6


def test_a_smaller_layout_retires_the_instances_beyond_it(tmp_path: Path) -> None:
    ctx = StackContext(CommonSettings(state_dir=tmp_path))
    assert read_layout(ctx) == PlatformSettings()  # nothing recorded: the settings' layout
    save_layout(ctx, PlatformSettings(workers=3, executors=1))
    assert read_layout(ctx) == PlatformSettings(workers=3, executors=1)
    # instance 3 is a real process in its own session, as the launcher starts them
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    third = ConversationWorkerProcess(ctx, 2)
    third.pidfile.parent.mkdir(parents=True)
    third.pidfile.write_text(f"{sleeper.pid}\n")
    try:
        assert "conversation-worker-3" in [s.name for s in known_services(ctx)]
        smaller = PlatformSettings(workers=1, executors=1)
        (extra,) = leftover_services(ctx, smaller)
        assert extra.name == "conversation-worker-3"
        assert retire(extra) == "retired" and sleeper.wait(timeout=30) != 0
        assert not extra.pidfile.exists() and leftover_services(ctx, smaller) == []
    finally:
        sleeper.kill()
        sleeper.wait()


def free_ports(count: int) -> int:
    """A base port with `count` free ports from it."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + count < 65535 and all(_free(base + i) for i in range(count)):
            return base


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Workers:
    """Conversation workers launched in the test's state directory."""

    def __init__(self, state: Path, env: dict[str, str], group: str) -> None:
        self.env = env
        self.group = group
        self.ctx = StackContext(CommonSettings(state_dir=state))

    def start(self, index: int) -> None:
        done = subprocess.run(
            [sys.executable, "-c", LAUNCH, str(index)],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0 and done.stdout.split() == ["started"], done.stderr

    def process(self, index: int) -> ConversationWorkerProcess:
        return ConversationWorkerProcess(self.ctx, index)

    def kill9(self, index: int) -> None:
        pid = self.process(index).pid()
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def status_rows(self) -> dict[str, list[str]]:
        env = {**self.env, "COLUMNS": "400"}
        done = subprocess.run(
            [SOMA, "status"], check=False, env=env, capture_output=True, text=True, timeout=120
        )
        servers = done.stdout.split("\nsupervisor: ", 1)[0]  # not the restarts table below
        rows = [line.split("│")[1:-1] for line in servers.splitlines() if "│" in line]
        return {cells[0].strip(): [c.strip() for c in cells] for cells in rows if cells}

    async def members(self, bootstrap: str) -> Members:
        """The group's members and the partitions each holds (Kafka's own description)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (response,) = await admin.describe_consumer_groups([self.group])
        finally:
            await admin.close()
        (group,) = response.groups
        held: Members = {}
        for member in group[5]:
            assignment = ConsumerProtocolMemberAssignment.decode(member[-1]) if member[-1] else None
            held[member[0]] = {
                (topic, p)
                for topic, parts in (assignment.assignment if assignment else [])
                for p in parts
            }
        return held


async def until_members(
    workers: Workers, bootstrap: str, check: Callable[[Members], bool], timeout_s: float = 90
) -> Members:
    deadline = time.monotonic() + timeout_s
    while True:
        members = await workers.members(bootstrap)
        if check(members):
            return members
        assert time.monotonic() < deadline, f"group never settled: {members}"
        await asyncio.sleep(0.5)


@pytest.fixture
async def topics(settings: CommonSettings) -> WorkerTopics:
    run = uuid.uuid4().hex[:8]
    chosen = WorkerTopics(
        inbound=f"test.scale.{run}.inbound",
        outbound=f"test.scale.{run}.outbound",
        tool_requests=f"test.scale.{run}.tool-requests",
        tool_results=f"test.scale.{run}.tool-results",
    )
    names = [chosen.inbound, chosen.outbound, chosen.tool_requests, chosen.tool_results]
    partitions = KafkaSettings().partitions  # the platform's default
    await ensure_topics(settings.kafka.bootstrap, [*names, *map(dlq_topic, names)], partitions)
    return chosen


@pytest.fixture
def workers(
    tmp_path: Path,
    topics: WorkerTopics,
    settings: CommonSettings,
    policy_url: str,
    seeded_profiles: None,
) -> Iterator[Workers]:
    group = f"test-scale-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "SOMA_STATE_DIR": str(tmp_path),
        "SOMA_POSTGRES__DB_SCHEMA": settings.postgres.db_schema,
        "SOMA_TOPICS__INBOUND": topics.inbound,
        "SOMA_TOPICS__OUTBOUND": topics.outbound,
        "SOMA_TOPICS__TOOL_REQUESTS": topics.tool_requests,
        "SOMA_TOPICS__TOOL_RESULTS": topics.tool_results,
        "SOMA_WORKER__GROUP_ID": group,
        "SOMA_WORKER__METRICS_PORT": str(free_ports(3)),
        "SOMA_WORKER__ANSWER_MAX_TOKENS": "120",
        "SOMA_WORKER__SLM_EMBED_TIMEOUT_S": "5",
        "SOMA_POLICY__URL": policy_url,
        "SOMA_PLATFORM__WORKERS": "3",
        "SOMA_PLATFORM__EXECUTORS": "0",
    }
    run = Workers(tmp_path, env, group)
    save_layout(run.ctx, PlatformSettings(workers=3, executors=0))
    yield run
    for index in (0, 1, 2):
        run.process(index).down()


async def send(settings: CommonSettings, topic: str, session: str, text: str) -> str:
    correlation = uuid.uuid4().hex
    event = make_event(
        MESSAGE_RECEIVED,
        MessageReceived(text=text),
        session_id=session,
        tenant_id="tenant-scale",
        correlation_id=correlation,
    )
    async with KafkaEventBus(settings.kafka) as bus:
        await bus.publish(topic, event)
    return correlation


def mid_stream(update: dict[str, object]) -> bool:
    return update["status"] == "streaming" and int(str(update["seq"])) >= 2


def session_on(partitions: set[int], count: int) -> str:
    """A fresh session id that Kafka's partitioner puts on one of `partitions`."""
    while True:
        session = f"sess-{uuid.uuid4().hex[:12]}"
        if partition_for(session, count) in partitions:
            return session


async def test_three_workers_share_the_partitions_and_two_survive_the_third(
    workers: Workers, topics: WorkerTopics, settings: CommonSettings, pg_pool: asyncpg.Pool
) -> None:
    bootstrap, count = settings.kafka.bootstrap, KafkaSettings().partitions
    created = await partition_counts(bootstrap, [topics.inbound, topics.tool_results])
    assert created == {topics.inbound: count, topics.tool_results: count} and count >= 6
    workers.start(0)
    (first,) = await until_members(workers, bootstrap, lambda m: len(m) == 1)
    await asyncio.to_thread(workers.start, 1)
    (second,) = set(await until_members(workers, bootstrap, lambda m: len(m) == 2)) - {first}
    await asyncio.to_thread(workers.start, 2)
    members = await until_members(workers, bootstrap, lambda m: len(m) == 3 and all(m.values()))
    (third,) = set(members) - {first, second}
    inbound_of = {m: {p for t, p in held if t == topics.inbound} for m, held in members.items()}
    assert all(inbound_of.values())
    assert set().union(*inbound_of.values()) == set(range(count))
    rows = await asyncio.to_thread(workers.status_rows)
    names = (ConversationWorkerProcess.name, "conversation-worker-2", "conversation-worker-3")
    for port, name in enumerate(names):
        assert rows[name][1:3] == ["up", str(int(workers.env["SOMA_WORKER__METRICS_PORT"]) + port)]

    # a turn on the second worker's partitions and one on the first's; the second dies
    # while its turn streams
    doomed = await send(
        settings,
        topics.inbound,
        session_on(inbound_of[second], count),
        "Write a poem of eight lines about the sea.",
    )
    survivor = await send(
        settings, topics.inbound, session_on(inbound_of[first], count), "Say hello in one line."
    )
    await watch_turn(
        settings,
        topics.outbound,
        doomed,
        until=lambda u: u["status"] == "streaming" and u["seq"] >= 2,
    )
    await asyncio.to_thread(workers.kill9, 1)

    # the two survivors take every partition of both topics, and both turns complete
    await until_members(
        workers,
        bootstrap,
        lambda m: set(m) == {first, third} and len(m[first] | m[third]) == 2 * count,
    )
    watches = {c: await watch_turn(settings, topics.outbound, c) for c in (doomed, survivor)}
    assert {c: w.final()["status"] for c, w in watches.items()} == {
        doomed: "completed",
        survivor: "completed",
    }
    assert watches[doomed].attempts() == {1, 2}  # it was cut mid-stream and run again
    rows = await pg_pool.fetch(
        "SELECT correlation_id, count(*) AS n FROM events"
        " WHERE correlation_id = ANY($1::text[]) AND type = $2 GROUP BY correlation_id",
        [doomed, survivor],
        TURN_COMPLETED,
    )
    assert {r["correlation_id"]: r["n"] for r in rows} == {doomed: 1, survivor: 1}
    assert (await asyncio.to_thread(workers.status_rows))["conversation-worker-2"][1] == "stale"
