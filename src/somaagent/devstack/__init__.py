"""The local stack launcher: real Kafka, PostgreSQL, Redis, OPA and OpenFGA on loopback."""

from somaagent.devstack.service import ServiceStatus, StackContext
from somaagent.devstack.stack import Stack

__all__ = ["ServiceStatus", "Stack", "StackContext"]
