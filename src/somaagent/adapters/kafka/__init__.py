"""Kafka adapter (aiokafka): the event bus producer and the consumer-group loop."""

from somaagent.adapters.kafka.consumer import KafkaConsumerLoop, parse_envelope
from somaagent.adapters.kafka.producer import KafkaEventBus, encode
from somaagent.adapters.kafka.tracing import new_traceparent, trace_id_of

__all__ = [
    "KafkaConsumerLoop",
    "KafkaEventBus",
    "encode",
    "new_traceparent",
    "parse_envelope",
    "trace_id_of",
]
