"""One llama.cpp server process (xllamacpp), run by the launcher as its own process.

    python -m somaagent.devstack.llm_server_main --model PATH --port 18090 --alias NAME

It binds 127.0.0.1 only (the server has no API key and open CORS), serves the
OpenAI-compatible API (/v1/chat/completions with SSE, /v1/embeddings with --embedding),
/health and /metrics, and blocks until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
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
    return parser.parse_args(argv)


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
