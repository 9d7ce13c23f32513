"""Serves a GGUF model with llama.cpp's own HTTP server on loopback until it is stopped (SIGTERM or SIGINT).

Run by the embedded target with the Python of the llama.cpp venv, which holds xllamacpp only: this file imports
nothing of the suite. xllamacpp embeds llama.cpp's server (tools/server) in a Python extension; its threads serve
/v1/chat/completions while this process's main thread waits for the signal that ends it.

    python serve_llamacpp.py --model tiny-llama.gguf --alias tiny-llama --port 8080
"""

from __future__ import annotations

import argparse
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the GGUF file")
    parser.add_argument("--alias", required=True, help="the model name the server answers to")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slots", type=int, default=4, help="requests decoded at once (llama-server --parallel)")
    parser.add_argument("--slot-context", type=int, default=16384, help="context tokens of each slot")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads that decode (llama-server --threads; -1: a core each)"
    )
    args = parser.parse_args(argv)

    # Block the stopping signals before the server's threads start, so that they inherit the mask and only
    # sigwait below receives them.
    stopping = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stopping)

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.use_jinja = True  # the template's tool calls: without it llama.cpp serves no tools at all
    params.n_parallel = args.slots
    params.kv_unified = True  # one KV cache for all slots, as llama-server's default of 4 slots has
    params.n_ctx = args.slots * args.slot_context
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = args.threads
    server = xllamacpp.Server(params)
    print(f"serve_llamacpp: xllamacpp {xllamacpp.__version__} listening on {server.listening_address}", flush=True)
    received = signal.sigwait(stopping)
    print(f"serve_llamacpp: stopping on {signal.Signals(received).name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
