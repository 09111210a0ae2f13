"""One llama.cpp server process (xllamacpp), run by the launcher as its own process.

    python -m somaagent.devstack.llm_server_main --model PATH --port 18090 --alias NAME

It binds 127.0.0.1 only (CORS is open), serves the OpenAI-compatible API
(/v1/chat/completions with SSE, /v1/embeddings with --embedding), /health and /metrics,
and blocks until SIGTERM or SIGINT. It has no API key unless --api-key-env names an
environment variable that holds one (the key never appears on the command line); then
the API answers only requests with `Authorization: Bearer KEY`.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

import xllamacpp  # type: ignore[import-untyped]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, required=True, help="GGUF file")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--alias", required=True, help="model name the API reports")
    parser.add_argument("--n-parallel", type=int, default=2, help="parallel slots")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context shared by the slots")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--embedding", action="store_true", help="serve /v1/embeddings")
    parser.add_argument(
        "--api-key-env", metavar="NAME", help="environment variable holding the API key"
    )
    return parser.parse_args(argv)


def api_keys(name: str | None) -> list[str]:
    """The keys the server accepts: none, or the one in environment variable `name`."""
    if name is None:
        return []
    key = os.environ.get(name, "")
    if not key:
        raise SystemExit(f"--api-key-env: environment variable {name} is not set or empty")
    return [key]


def build_params(args: argparse.Namespace) -> xllamacpp.CommonParams:
    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.model_alias = {args.alias}  # a set: a plain string becomes one alias per char
    params.n_parallel = args.n_parallel
    params.n_ctx = args.n_ctx
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.endpoint_metrics = True
    params.cache_prompt = True  # the default, pinned: a slot keeps its prompt's KV for reuse
    params.api_keys = api_keys(args.api_key_env)
    if args.embedding:
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    return params


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.model.is_file():
        raise SystemExit(f"--model: {args.model} is not a file")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp.Server(build_params(args))
    stop.wait()
    del server


if __name__ == "__main__":  # pragma: no cover
    main()
