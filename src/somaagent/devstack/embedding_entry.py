"""Process entry of the embedding server: llama.cpp (xllamacpp) serving /v1/embeddings.

    python -m somaagent.devstack.embedding_entry --model X.gguf --port 18091 --threads 1

Binds 127.0.0.1 only (the server has no API key), mean pooling, L2-normalised vectors,
and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

import xllamacpp  # type: ignore[import-untyped]

#: Tokens per batch; MiniLM's context is 512, so one sentence always fits one batch.
CONTEXT = 512


def build_params(model: str, port: int, threads: int, parallel: int) -> xllamacpp.CommonParams:
    params = xllamacpp.CommonParams()
    params.model.path = model
    params.embedding = True
    params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    params.embd_normalize = 2
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.n_parallel = parallel
    params.n_ctx = CONTEXT * parallel
    params.n_batch = CONTEXT * parallel
    params.n_ubatch = CONTEXT * parallel
    return params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SomaAgent embedding server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = xllamacpp.Server(build_params(args.model, args.port, args.threads, args.parallel))
    stop.wait()
    del server


if __name__ == "__main__":
    main()
