"""Benchmark: the suite against a plain concurrent client on the same server, and the suite's own CPU cost.

    python -m toolcall_conformance.benchmark [--endpoint URL] [--concurrency N] [--rounds R]

Without --endpoint it starts the embedded target. Each round times, on the same server:
  suite  - `pytest` running the whole conformance suite: its time for its requests (first request sent to
           last verdict, from results.json) and the whole process (start, collection, requests, checks, report)
  plain  - an httpx client sending the same request bodies with the same concurrency, reading every byte
The two alternate, so both see the same machine; the ratio of medians is what counts (target <= 1.25).
Then the client-side cost of validating one call and reassembling one stream (median, microseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from .answer import answer_of
from .cases import REPO_ROOT, equivalence_pairs, named_cases, parallel_off_cases, required_cases
from .checks import run_checks
from .client import send
from .dispatch import request_key
from .schema import schema_problems
from .settings import OPTIONS_BY_NAME, Settings
from .stream import parse_sse, reassemble
from .target import preflight


def suite_bodies(settings: Settings) -> list[dict[str, Any]]:
    """Every distinct request body the suite sends, in its order."""
    cases = [*named_cases(), *parallel_off_cases(), *required_cases()]
    cases += [case for pair in equivalence_pairs() for case in pair.both]
    unique = {request_key(body): body for body in (case.body(settings) for case in cases)}
    return list(unique.values())


async def _plain(endpoint: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:

        async def one(body: dict[str, Any]) -> None:
            async with slots, http.stream("POST", endpoint + "/chat/completions", json=body) as response:
                async for _ in response.aiter_raw():
                    pass

        started = time.perf_counter()
        await asyncio.gather(*(one(body) for body in bodies))
        return time.perf_counter() - started


def _suite(endpoint: str, concurrency: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as reports:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO_ROOT / "tests"),
             f"--rootdir={REPO_ROOT}", f"--endpoint={endpoint}", f"--concurrency={concurrency}",
             f"--report-dir={reports}", "-m", "not hypothesis"],
            cwd=REPO_ROOT, capture_output=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        document = json.loads((Path(reports) / "latest" / "results.json").read_text())
    return elapsed, document["request_phase_seconds"], document["requests_sent"]


def _median_us(function: Any, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        function()
        timings.append(time.perf_counter_ns() - started)
    return statistics.median(timings) / 1000


async def _samples(endpoint: str, settings: Settings) -> dict[str, Any]:
    """One real blocking and one real streamed answer of the seed scenario, to time the client-side work."""
    seed = required_cases()[0:2]
    async with httpx.AsyncClient(timeout=120) as http:
        blocking = await send(http, endpoint, settings.api_key, seed[0].body(settings), 120)
        stream = await send(http, endpoint, settings.api_key, seed[1].body(settings), 120)
    return {"blocking": (seed[0], blocking), "stream": (seed[1], stream)}


def client_costs(endpoint: str, settings: Settings, repeat: int = 2000) -> dict[str, float]:
    """Median microseconds: validating one call's arguments; all checks of one answer; reassembling one stream."""
    samples = asyncio.run(_samples(endpoint, settings))
    case, blocking = samples["blocking"]
    stream_case, stream = samples["stream"]
    call = answer_of(blocking).calls[0] if answer_of(blocking).calls else None
    tools = list(case.toolset.tools)
    parameters = next(t["function"]["parameters"] for t in tools if call and t["function"]["name"] == call.name)
    arguments = json.loads(call.arguments) if call else {}
    return {
        "validate one call (args.schema)": _median_us(lambda: schema_problems(arguments, parameters), repeat),
        "all checks of a blocking answer": _median_us(lambda: run_checks(case, blocking), repeat // 4),
        "reassemble one stream (parse SSE + fold)": _median_us(lambda: reassemble(parse_sse(stream.raw)), repeat),
        "all checks of a streamed answer": _median_us(lambda: run_checks(stream_case, stream), repeat // 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--endpoint", help="server to measure (default: start the embedded target)")
    parser.add_argument("--concurrency", type=int, default=OPTIONS_BY_NAME["concurrency"].default)
    parser.add_argument("--rounds", type=int, default=3, help="suite/plain pairs to time (medians are compared)")
    args = parser.parse_args(argv)
    embedded = None
    endpoint = args.endpoint
    if endpoint is None:
        from .local import LocalTarget, build_model, find_vllm_python, load_format

        python = find_vllm_python()
        if python is None:
            print("no --endpoint and no vLLM installed: run scripts/install-target", file=sys.stderr)
            return 2
        folder = tempfile.TemporaryDirectory(prefix="tcc-bench-")
        embedded = LocalTarget(
            python=python, model_dir=build_model(Path(folder.name)), log_path=Path(folder.name) / "vllm.log",
            load_format=load_format("shaped"), progress=lambda line: print(f"  {line}"[:120], file=sys.stderr),
        )  # fmt: skip
        endpoint = embedded.start()
    try:
        target = preflight(endpoint, "EMPTY", None)
        settings = Settings(endpoint=endpoint, model=target.model, **{
            o.name: o.default for o in OPTIONS_BY_NAME.values() if o.name not in ("endpoint", "model")
        })  # fmt: skip
        bodies = suite_bodies(settings)
        asyncio.run(_plain(endpoint, bodies[:8], args.concurrency))  # warm the server up
        process_times, phase_times, plain_times = [], [], []
        for round_number in range(args.rounds):
            # Alternate which goes first, so neither always meets a warmer server (prefix cache, allocator).
            if round_number % 2:
                plain_time = asyncio.run(_plain(endpoint, bodies, args.concurrency))
                process_time, phase_time, sent = _suite(endpoint, args.concurrency)
            else:
                process_time, phase_time, sent = _suite(endpoint, args.concurrency)
                plain_time = asyncio.run(_plain(endpoint, bodies, args.concurrency))
            process_times.append(process_time)
            phase_times.append(phase_time)
            plain_times.append(plain_time)
            print(f"round {round_number + 1}: suite {phase_time:.2f} s for its requests ({sent}), "
                  f"{process_time:.2f} s as a whole pytest run; plain {plain_time:.2f} s ({len(bodies)})")  # fmt: skip
        plain = statistics.median(plain_times)
        print(f"server: {endpoint} ({target.server_version or 'unknown version'}), concurrency {args.concurrency}")
        print(f"suite/plain, ratio of medians, requests: {statistics.median(phase_times) / plain:.2f} (target <= 1.25)")
        print(f"suite/plain, ratio of medians, whole pytest run: {statistics.median(process_times) / plain:.2f}")
        for name, micros in client_costs(endpoint, settings).items():
            print(f"{name}: {micros:.0f} us median")
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
