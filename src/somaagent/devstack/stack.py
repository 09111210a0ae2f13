"""The local stack: which servers, in which order, and the operations on all of them."""

from __future__ import annotations

from somaagent.devstack.embedding_server import EmbeddingService
from somaagent.devstack.kafka import KafkaService
from somaagent.devstack.llm_server import (
    DialogueLlmService,
    FallbackLlmService,
    LargeLlmService,
)
from somaagent.devstack.opa import OpaService
from somaagent.devstack.openfga import OpenFgaService
from somaagent.devstack.platform import PLATFORM_TYPES
from somaagent.devstack.postgres import PostgresService
from somaagent.devstack.process import say
from somaagent.devstack.prometheus import PrometheusService
from somaagent.devstack.redis import RedisService
from somaagent.devstack.service import Service, ServiceStatus, StackContext
from somaagent.domain.errors import InfraError
from somaagent.settings import CommonSettings

#: Start order; OpenFGA keeps its data in the stack's PostgreSQL, so it follows it.
SERVICE_TYPES: tuple[type[Service], ...] = (
    PostgresService,
    RedisService,
    KafkaService,
    OpaService,
    OpenFgaService,
    DialogueLlmService,
    FallbackLlmService,
    LargeLlmService,
    EmbeddingService,
    PrometheusService,
)


class Stack:
    def __init__(
        self, settings: CommonSettings, only: list[str] | None = None, *, platform: bool = False
    ) -> None:
        self.ctx = StackContext(settings)
        types = SERVICE_TYPES + (PLATFORM_TYPES if platform else ())
        self.services: list[Service] = [t(self.ctx) for t in types]
        strangers = set(settings.shared_servers) - {t.name for t in SERVICE_TYPES}
        if strangers:
            raise InfraError(
                f"SOMA_SHARED_SERVERS names unknown servers {', '.join(sorted(strangers))}; "
                f"known: {', '.join(t.name for t in SERVICE_TYPES)}"
            )
        if only:
            unknown = set(only) - {s.name for s in self.services}
            if unknown:
                raise InfraError(
                    f"unknown service {', '.join(sorted(unknown))}; "
                    f"known: {', '.join(s.name for s in self.services)}"
                )
            self.services = [s for s in self.services if s.name in only]

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise InfraError(f"unknown service {name}")

    def up(self) -> dict[str, str]:
        self.ctx.state.mkdir(parents=True, exist_ok=True)
        results: dict[str, str] = {}
        for svc in self.services:
            results[svc.name] = svc.up()
            say(f"{svc.name}: {results[svc.name]}")
        return results

    def down(self) -> dict[str, str]:
        return {svc.name: svc.down() for svc in reversed(self.services)}

    def status(self) -> list[ServiceStatus]:
        return [svc.status() for svc in self.services]
