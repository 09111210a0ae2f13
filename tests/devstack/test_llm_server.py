"""The chat model servers the launcher starts: real llama.cpp, loopback only, verified weights."""

from __future__ import annotations

import hashlib
import socket

import httpx

from somaagent.devstack import Stack
from somaagent.devstack.llm_server import (
    DIALOGUE_MODEL,
    FALLBACK_MODEL,
    LARGE_MODEL,
    xllamacpp_version,
)
from somaagent.devstack.weights import (
    artifact_path,
    ensure_artifact,
    load_manifest,
    manifest_path,
)

SERVERS = (("llm", DIALOGUE_MODEL), ("llm-small", FALLBACK_MODEL), ("llm-large", LARGE_MODEL))


def test_every_chat_server_is_up_with_model_and_runtime_versions(stack: Stack) -> None:
    rows = {row.name: row for row in stack.status()}
    for name, model in SERVERS:
        assert rows[name].state == "up"
        assert rows[name].version == f"{model} / xllamacpp {xllamacpp_version()}"
    assert xllamacpp_version() == "2026.10.11549"


def test_each_server_serves_its_model_and_metrics(stack: Stack) -> None:
    for name, model in SERVERS:
        port = stack.service(name).port
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).json()
        assert [m["id"] for m in models["data"]] == [model]
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert "llamacpp:tokens_predicted_total" in metrics.text


def outward_address() -> str:
    """This machine's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.254", 9))
        return str(sock.getsockname()[0])


def test_servers_listen_on_loopback_only(stack: Stack) -> None:
    outward = outward_address()
    assert not outward.startswith("127.")
    for name, _ in SERVERS:
        port = stack.service(name).port
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        with socket.socket() as sock:
            sock.settimeout(0.5)
            assert sock.connect_ex((outward, port)) != 0, f"{name} answers on {outward}"


def test_served_weights_match_the_pinned_sha256(stack: Stack) -> None:
    manifest = load_manifest(manifest_path(stack.ctx))
    for _, key in SERVERS:
        artifact = manifest.artifact(key)
        path = ensure_artifact(stack.ctx, artifact)  # cached: no download, no rebuild
        assert path == artifact_path(stack.ctx, artifact)
        assert path.stat().st_size == artifact.size
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        assert digest.hexdigest() == artifact.sha256
