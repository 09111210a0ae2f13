"""Kafka consumer metrics, per topic (names as docs/operations.md lists them).

- kafka_consumer_lag{group,topic,partition}: records on the partition past this member's
  last committed offset (high watermark of the last fetch minus the committed offset). A
  partition moved away by a rebalance is dropped here and reported by its new owner.
- kafka_dlq_records_total{topic}: records this process dead-lettered, by dead-letter topic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from aiokafka import TopicPartition
from prometheus_client import Counter, Gauge

CONSUMER_LAG = Gauge(
    "kafka_consumer_lag",
    "Records past the group's committed offset, per partition this member owns.",
    ["group", "topic", "partition"],
)
DLQ_RECORDS = Counter(
    "kafka_dlq_records_total",
    "Records dead-lettered by this process, by dead-letter topic.",
    ["topic"],
)


def record_lag(group: str, tp: TopicPartition, highwater: int | None, committed: int) -> None:
    """Set the lag after a commit; unknown high watermark (no fetch yet) leaves it unset."""
    if highwater is None:
        return
    CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(highwater - committed, 0))


def forget_lag(group: str, partitions: Iterable[TopicPartition]) -> None:
    for tp in partitions:
        with contextlib.suppress(KeyError):  # never set (no commit yet)
            CONSUMER_LAG.remove(group, tp.topic, str(tp.partition))
