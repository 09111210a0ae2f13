"""Configuration sections shared by every process.

Each service builds one settings object (env prefix `SOMA_`, nested sections joined by
`__`, e.g. `SOMA_KAFKA__BOOTSTRAP=127.0.0.1:19092`) in its main() and passes it down.
Nothing here is read at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["local", "ci", "production"]
DEFAULT_PG_PASSWORD = "soma-local"


def repo_root() -> Path:
    """The checkout this package runs from (src/somaagent/settings.py -> repo)."""
    return Path(__file__).resolve().parents[2]


def default_state_dir() -> Path:
    return repo_root() / ".state"


def default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "somaagent"


class KafkaSettings(BaseModel):
    bootstrap: str = "127.0.0.1:19092"
    controller_port: int = 19093
    partitions: int = Field(default=6, ge=1, le=256)
    request_timeout_s: float = 15.0


class PostgresSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 15432
    user: str = "soma"
    password: SecretStr = SecretStr(DEFAULT_PG_PASSWORD)
    database: str = "soma"
    db_schema: str = "public"
    pool_min: int = 1
    pool_max: int = 10
    command_timeout_s: float = 10.0

    def dsn(self) -> str:
        pw = self.password.get_secret_value()
        return f"postgresql://{self.user}:{pw}@{self.host}:{self.port}/{self.database}"


class RedisSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 16379
    db: int = 0
    key_prefix: str = ""
    socket_timeout_s: float = 0.5

    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"


class OpaSettings(BaseModel):
    url: str = "http://127.0.0.1:18181"
    timeout_s: float = 2.0


class OpenFgaSettings(BaseModel):
    url: str = "http://127.0.0.1:18080"
    grpc_port: int = 18081
    store_name: str = "somaagent"
    timeout_s: float = 2.0


class LlmSettings(BaseModel):
    """The local llama.cpp chat servers: the dialogue model, its smaller fallback and the
    larger candidate (Qwen2.5-Coder-1.5B) that `dialogue-qwen-1.5b` points at."""

    dialogue_port: int = Field(default=18090, ge=1, le=65535)
    fallback_port: int = Field(default=18092, ge=1, le=65535)
    large_port: int = Field(default=18093, ge=1, le=65535)
    n_parallel: int = Field(default=4, ge=1, le=16)
    n_ctx: int = Field(default=8192, ge=512, description="shared by the n_parallel slots")
    threads: int = Field(default=2, ge=1, le=64)
    connect_timeout_s: float = 2.0
    first_token_timeout_s: float = 60.0
    read_timeout_s: float = 60.0

    def dialogue_url(self) -> str:
        return f"http://127.0.0.1:{self.dialogue_port}/v1"

    def fallback_url(self) -> str:
        return f"http://127.0.0.1:{self.fallback_port}/v1"

    def large_url(self) -> str:
        return f"http://127.0.0.1:{self.large_port}/v1"


class EmbeddingSettings(BaseModel):
    """The sentence-embedding server (all-MiniLM-L6-v2 on llama.cpp) and its client."""

    port: int = Field(default=18091, ge=1, le=65535)
    threads: int = Field(default=1, ge=1, le=64)
    timeout_s: float = 2.0

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class PlatformSettings(BaseModel):
    """How many of each scalable platform process `soma up` runs (SOMA_PLATFORM__WORKERS)."""

    workers: int = Field(default=1, ge=0, le=32)
    executors: int = Field(default=1, ge=0, le=32)


class TelemetrySettings(BaseModel):
    """OpenTelemetry traces (`SOMA_TELEMETRY__ENABLED`): off by default; when on, spans go
    to an OTLP/HTTP receiver at `endpoint` (`<endpoint>/v1/traces`, http/protobuf)."""

    enabled: bool = False
    endpoint: str = "http://127.0.0.1:4318"
    timeout_s: float = Field(default=5.0, gt=0)
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class CommonSettings(BaseSettings):
    """Sections every process shares; services subclass it and add their own."""

    model_config = SettingsConfigDict(env_prefix="SOMA_", env_nested_delimiter="__", extra="ignore")

    environment: Environment = "local"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    state_dir: Path = Field(default_factory=default_state_dir)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    opa: OpaSettings = OpaSettings()
    openfga: OpenFgaSettings = OpenFgaSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    llm: LlmSettings = LlmSettings()
    platform: PlatformSettings = PlatformSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    #: Servers of the stack that another launcher runs (a second platform on one machine
    #: sharing the first one's model servers): `up` waits for them, never starts or stops
    #: them. JSON list, e.g. SOMA_SHARED_SERVERS='["llm", "embedding"]'.
    shared_servers: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> Self:
        if self.environment == "production":
            if self.postgres.password.get_secret_value() == DEFAULT_PG_PASSWORD:
                raise ValueError(
                    "SOMA_POSTGRES__PASSWORD still has the local default; "
                    "set a real secret for environment=production"
                )
            if self.postgres.host in {"127.0.0.1", "localhost"} and not os.environ.get(
                "SOMA_ALLOW_LOOPBACK_PRODUCTION"
            ):
                raise ValueError(
                    "SOMA_POSTGRES__HOST is loopback in production; "
                    "set SOMA_ALLOW_LOOPBACK_PRODUCTION=1 if that is intended"
                )
        return self
