"""Apache Kafka in KRaft mode (single node) from the official jars on Maven Central."""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from somaagent.devstack.process import port_open, run_step, say
from somaagent.devstack.service import Service, apt_install
from somaagent.domain.constants import ALL_TOPICS
from somaagent.domain.errors import InfraError

JAVA_MAJOR = 17


def kafka_version(repo: Path) -> str:
    pom = (repo / "infra" / "kafka" / "pom.xml").read_text()
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    if found is None:
        raise InfraError("kafka: infra/kafka/pom.xml has no <kafka.version>")
    return found.group(1)


def java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    found = re.search(r'version "(\d+)', out)
    return int(found.group(1)) if found else 0


def new_cluster_id() -> str:
    """A random KRaft cluster id, never starting with "-".

    The id is a uuid in URL-safe base64, so 1 in 64 would start with "-", which the storage
    tool's argument parser reads as an option ("--cluster-id: expected one argument").
    Kafka's own Uuid.randomUuid skips such ids too.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaService(Service):
    name = "kafka"
    ready_timeout_s = 120.0

    @property
    def port(self) -> int:
        return int(self.ctx.settings.kafka.bootstrap.rsplit(":", 1)[1])

    @property
    def libs(self) -> Path:
        return self.ctx.cache / f"kafka-{kafka_version(self.ctx.repo)}" / "libs"

    @property
    def datadir(self) -> Path:
        return self.ctx.state / "kafka" / "data"

    def install(self) -> None:
        java = shutil.which("java")
        if java is None or java_major(java) < JAVA_MAJOR:
            say("kafka: Java 17 is missing; installing openjdk-17-jre-headless")
            apt_install(["openjdk-17-jre-headless"], self.ctx)
        if any(self.libs.glob("kafka_2.13-*.jar")):
            return
        if shutil.which("mvn") is None:
            apt_install(["maven"], self.ctx)
        say(f"kafka: resolving broker jars from Maven Central into {self.libs}")
        self.libs.mkdir(parents=True, exist_ok=True)
        run_step(
            "mvn dependency:copy-dependencies",
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(self.ctx.repo / "infra" / "kafka" / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
                "-DincludeScope=runtime",
            ],
            logfile=self.ctx.logfile("install"),
            timeout_s=1200,
        )

    def _java(self, main: str, *args: str, heap: str = "-Xmx256m") -> list[str]:
        return [
            "java",
            heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.ctx.state / 'kafka' / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def _write_config(self) -> Path:
        conf_dir = self.ctx.data("kafka")
        settings = self.ctx.settings.kafka
        conf = conf_dir / "server.properties"
        conf.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{settings.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{settings.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.datadir}",
                    f"num.partitions={settings.partitions}",
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "log.retention.hours=168",
                    "",
                ]
            )
        )
        (conf_dir / "log4j2.properties").write_text(
            "rootLogger.level=INFO\n"
            "rootLogger.appenderRef.stdout.ref=STDOUT\n"
            "appender.stdout.type=Console\n"
            "appender.stdout.name=STDOUT\n"
            "appender.stdout.layout.type=PatternLayout\n"
            "appender.stdout.layout.pattern=[%d] %p %m (%c)%n\n"
            "logger.kafka.name=kafka\nlogger.kafka.level=WARN\n"
            "logger.kafka.server.name=kafka.server.KafkaRaftServer\n"
            "logger.kafka.server.level=INFO\n"
            "logger.apache.name=org.apache.kafka\nlogger.apache.level=WARN\n"
        )
        return conf

    def prepare(self) -> None:
        conf = self._write_config()
        if (self.datadir / "meta.properties").exists():
            return
        cluster_id = new_cluster_id()
        say(f"kafka: formatting storage (cluster {cluster_id})")
        run_step(
            "kafka storage format",
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(conf)),
            logfile=self.logfile,
            timeout_s=120,
        )

    def launch(self) -> None:
        conf = self.ctx.state / "kafka" / "server.properties"
        self.spawn(self._java("kafka.Kafka", str(conf), heap="-Xmx768m"))

    def ready(self) -> bool:
        if not port_open("127.0.0.1", self.port):
            return False
        try:
            return asyncio.run(self._list_topics()) is not None
        except (KafkaError, OSError, TimeoutError):
            return False

    async def _list_topics(self) -> set[str]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.ctx.settings.kafka.bootstrap, request_timeout_ms=5000
        )
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    def after_start(self) -> None:
        created = asyncio.run(
            ensure_topics(
                self.ctx.settings.kafka.bootstrap, ALL_TOPICS, self.ctx.settings.kafka.partitions
            )
        )
        if created:
            say(f"kafka: created topics {', '.join(sorted(created))}")
        wanted = self.ctx.settings.kafka.partitions
        short = asyncio.run(partition_counts(self.ctx.settings.kafka.bootstrap, ALL_TOPICS))
        fewer = sorted(f"{t} ({n})" for t, n in short.items() if n < wanted)
        if fewer:  # never grown here: a session's records would move to another partition
            say(
                f"kafka: fewer partitions than SOMA_KAFKA__PARTITIONS={wanted}, which bounds "
                f"the workers that share them: {', '.join(fewer)} (see docs/operations.md)"
            )

    def version(self) -> str:
        return kafka_version(self.ctx.repo)


async def partition_counts(bootstrap: str, topics: tuple[str, ...] | list[str]) -> dict[str, int]:
    """The partition count of each of `topics` that exists."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}


async def ensure_topics(
    bootstrap: str, topics: tuple[str, ...] | list[str], partitions: int
) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in missing]
            )
        return missing
    finally:
        await admin.close()
