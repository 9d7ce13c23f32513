"""Benchmark: the suite against a plain concurrent client on the same server, and the suite's own CPU cost.

    python -m toolcall_conformance benchmark [--endpoint URL] [--concurrency N] [--rounds R]
    python -m toolcall_conformance benchmark --emulated [--rounds R] [--record]   (see benchmark_emulated.py)

Without --endpoint it starts the embedded target. Each round times, on the same server:
  suite  - `pytest` running the conformance suite (the curated tests; generated and bad-request tests send
           other bodies): its time for its requests (first request sent to last verdict, from results.json),
           the whole process (start, collection, requests, checks, report), and the CPU it used
  plain  - an httpx client sending the same request bodies with the same concurrency, reading every byte
  loaded - the plain client again while another process keeps LOAD_SHARE of one core busy: a control for
           a server that shares the client's cores (the embedded target does), where any client-side work
           slows the server down
Their order rotates, so all see the same machine; the ratio of medians is what counts (target <= 1.25).
Then the client-side cost of validating one call and reassembling one stream (median, microseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from .data import REPO_ROOT
from .inputs.cases import equivalence_pairs, named_cases, parallel_off_cases, required_cases
from .judging.answer import answer_of
from .judging.checks import run_checks
from .judging.schema import schema_problems
from .judging.sdk import sdk_view
from .reporting.report import CI_SUMMARY_VARIABLE
from .settings import OPTIONS_BY_NAME, Settings
from .wire.client import send
from .wire.dispatch import request_key
from .wire.pools import POOL_SIZE, ClientPools
from .wire.preflight import preflight
from .wire.stream import parse_sse, reassemble


def suite_bodies(settings: Settings) -> list[dict[str, Any]]:
    """Every distinct request body the suite sends, in its order."""
    cases = [*named_cases(), *parallel_off_cases(), *required_cases()]
    cases += [case for pair in equivalence_pairs() for case in pair.both]
    unique = {request_key(body): body for body in (case.body(settings) for case in cases)}
    return list(unique.values())


async def _plain(endpoint: str, bodies: list[dict[str, Any]], concurrency: int, one_pool: bool = False) -> float:
    """Seconds for a plain client to send the bodies, `concurrency` at a time, reading every byte. Its
    connections are split into pools as the suite's are (wire/pools.py); one_pool: all in one httpx client."""
    pools = ClientPools(concurrency, 120, pool_size=concurrency if one_pool else POOL_SIZE)

    async def one(body: dict[str, Any]) -> None:
        async with pools.slot() as http, http.stream("POST", endpoint + "/chat/completions", json=body) as response:
            async for _ in response.aiter_raw():
                pass

    started = time.perf_counter()
    await asyncio.gather(*(one(body) for body in bodies))
    elapsed = time.perf_counter() - started
    await pools.aclose()
    return elapsed


def _suite(endpoint: str, concurrency: int) -> tuple[float, float, int, float]:
    """Seconds for the whole run and for its requests, requests sent, and CPU seconds of the pytest processes."""
    cpu_before = _children_cpu()
    with tempfile.TemporaryDirectory() as reports:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO_ROOT / "tests"),
             f"--rootdir={REPO_ROOT}", f"--endpoint={endpoint}", f"--concurrency={concurrency}",
             f"--report-dir={reports}", "-m", "not hypothesis and not bad_request and not sdk_client"],
            cwd=REPO_ROOT, capture_output=True, check=False, env=_without_ci_summary(),
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        document = json.loads((Path(reports) / "latest" / "results.json").read_text())
    return elapsed, document["request_phase_seconds"], document["requests_sent"], _children_cpu() - cpu_before


def _without_ci_summary() -> dict[str, str]:
    """The environment for a measured run, whose summary does not belong on a CI job's page."""
    return {name: value for name, value in os.environ.items() if name != CI_SUMMARY_VARIABLE}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


LOAD_SHARE = 0.2
LOAD_PERIOD = 0.1


def _keep_busy(stop: Any, share: float) -> None:
    """Use `share` of one core: busy for share * LOAD_PERIOD, then asleep for the rest of the period."""
    while not stop.is_set():
        started = time.perf_counter()
        while time.perf_counter() - started < share * LOAD_PERIOD:
            pass
        time.sleep((1 - share) * LOAD_PERIOD)


def _plain_under_load(endpoint: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    load = context.Process(target=_keep_busy, args=(stop, LOAD_SHARE), daemon=True)
    load.start()
    try:
        return asyncio.run(_plain(endpoint, bodies, concurrency))
    finally:
        stop.set()
        load.join(timeout=5)


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
        "all checks of a blocking answer (SDK view included)": _median_us(
            lambda: run_checks(case, blocking), repeat // 4
        ),
        "  of which the SDK view (replayed through openai.OpenAI)": _median_us(lambda: sdk_view(blocking), repeat // 4),
        "reassemble one stream (parse SSE + fold)": _median_us(lambda: reassemble(parse_sse(stream.raw)), repeat),
        "all checks of a streamed answer (SDK view included)": _median_us(
            lambda: run_checks(stream_case, stream), repeat // 4
        ),
        "  of which the SDK view (replayed through openai.OpenAI) ": _median_us(lambda: sdk_view(stream), repeat // 4),
        f"  (the streamed answer has {len(reassemble(parse_sse(stream.raw)).chunks)} chunks; SDK view per chunk)": (
            _median_us(lambda: sdk_view(stream), repeat // 4) / max(1, len(reassemble(parse_sse(stream.raw)).chunks))
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--endpoint", help="server to measure (default: start the embedded target)")
    parser.add_argument("--concurrency", type=int, default=OPTIONS_BY_NAME["concurrency"].default)
    parser.add_argument("--rounds", type=int, default=3, help="suite/plain pairs to time (medians are compared)")
    parser.add_argument("--emulated", action="store_true", help="against the emulated fast server (emulated.py)")
    parser.add_argument("--record", action="store_true", help="with --emulated: record its answers anew first")
    parser.add_argument("--recording", type=Path, help="with --emulated: the recording to replay")
    args = parser.parse_args(argv)
    if args.emulated:
        from . import benchmark_emulated, emulated

        return benchmark_emulated.run(args.rounds, args.recording or emulated.DEFAULT_RECORDING, args.record)
    embedded = None
    endpoint = args.endpoint
    if endpoint is None:
        from .target import LocalTarget, build_model, find_vllm_python, load_format

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
        runs: dict[str, list[float]] = {"suite": [], "process": [], "cpu": [], "plain": [], "loaded": []}
        order = ["suite", "plain", "loaded"]
        for round_number in range(args.rounds):
            for kind in order[round_number % 3 :] + order[: round_number % 3]:  # each kind meets each position
                if kind == "suite":
                    process_time, phase_time, sent, cpu = _suite(endpoint, args.concurrency)
                    runs["suite"].append(phase_time)
                    runs["process"].append(process_time)
                    runs["cpu"].append(cpu)
                elif kind == "plain":
                    runs["plain"].append(asyncio.run(_plain(endpoint, bodies, args.concurrency)))
                else:
                    runs["loaded"].append(_plain_under_load(endpoint, bodies, args.concurrency))
            print(f"round {round_number + 1}: suite {runs['suite'][-1]:.2f} s for its {sent} requests "
                  f"({runs['process'][-1]:.2f} s as a whole pytest run, {runs['cpu'][-1]:.2f} s CPU); "
                  f"plain {runs['plain'][-1]:.2f} s ({len(bodies)}); "
                  f"plain with {LOAD_SHARE:.0%} of a core busy elsewhere {runs['loaded'][-1]:.2f} s")  # fmt: skip
        median = {kind: statistics.median(times) for kind, times in runs.items()}
        plain = median["plain"]
        print(f"server: {endpoint} ({target.server_version or 'unknown version'}), concurrency {args.concurrency}")
        print(f"suite/plain, ratio of medians, requests: {median['suite'] / plain:.2f} (target <= 1.25)")
        print(f"suite/plain, ratio of medians, whole pytest run: {median['process'] / plain:.2f}")
        print(f"control: plain with {LOAD_SHARE:.0%} of a core busy elsewhere / plain: {median['loaded'] / plain:.2f}")
        print(f"suite CPU per run (pytest and its sending process, start-up included): {median['cpu']:.2f} s median")
        for name, micros in client_costs(endpoint, settings).items():
            print(f"{name}: {micros:.0f} us median")
    finally:
        if embedded is not None:
            embedded.stop()
    return 0
