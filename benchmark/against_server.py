"""The benchmark against a real server: the suite against a plain concurrent client, and the suite's CPU cost.

    python -m benchmark [--endpoint URL] [--concurrency N] [--rounds R]

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

import asyncio
import json
import multiprocessing
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from toolcall_conformance.inputs.cases import required_cases
from toolcall_conformance.judging.answer import answer_of
from toolcall_conformance.judging.judge import run_checks
from toolcall_conformance.judging.schema import schema_problems
from toolcall_conformance.judging.sdk import sdk_view
from toolcall_conformance.settings import Settings
from toolcall_conformance.wire.client import send
from toolcall_conformance.wire.preflight import preflight
from toolcall_conformance.wire.stream import parse_sse, reassemble

from .measure import (
    REPO_ROOT,
    default_settings,
    embedded_target,
    plain_client,
    suite_bodies,
    suite_command,
    without_ci_summary,
)

LOAD_SHARE = 0.2
LOAD_PERIOD = 0.1
KINDS = ("suite", "plain", "loaded")


def run(endpoint: str | None, concurrency: int, rounds: int) -> int:
    """Measure the server at `endpoint`, or the embedded target started here (and stopped after) without one."""
    if endpoint is not None:
        return _measure(endpoint, concurrency, rounds)
    with tempfile.TemporaryDirectory(prefix="tcc-bench-") as folder:
        target = embedded_target(Path(folder))
        if target is None:
            print("no --endpoint and no vLLM installed: run scripts/install-target", file=sys.stderr)
            return 2
        try:
            return _measure(target.start(), concurrency, rounds)
        finally:
            target.stop()


def _measure(endpoint: str, concurrency: int, rounds: int) -> int:
    """The rounds and their figures against a server that is up; the client-side costs last, as they need it."""
    target = preflight(endpoint, "EMPTY", None)
    settings = default_settings(endpoint, target.model)
    bodies = suite_bodies(settings)
    asyncio.run(plain_client(endpoint, bodies[:8], concurrency))  # warm the server up
    runs: dict[str, list[float]] = {"suite": [], "process": [], "cpu": [], "plain": [], "loaded": []}
    sent = 0
    for round_number in range(rounds):
        shift = round_number % len(KINDS)  # each kind meets each position
        for kind in KINDS[shift:] + KINDS[:shift]:
            sent = _one(kind, endpoint, bodies, concurrency, runs) or sent
        print(f"round {round_number + 1}: suite {runs['suite'][-1]:.2f} s for its {sent} requests "
              f"({runs['process'][-1]:.2f} s as a whole pytest run, {runs['cpu'][-1]:.2f} s CPU); "
              f"plain {runs['plain'][-1]:.2f} s ({len(bodies)}); "
              f"plain with {LOAD_SHARE:.0%} of a core busy elsewhere {runs['loaded'][-1]:.2f} s")  # fmt: skip
    median = {kind: statistics.median(times) for kind, times in runs.items()}
    plain = median["plain"]
    print(f"server: {endpoint} ({target.server_version or 'unknown version'}), concurrency {concurrency}")
    print(f"suite/plain, ratio of medians, requests: {median['suite'] / plain:.2f} (target <= 1.25)")
    print(f"suite/plain, ratio of medians, whole pytest run: {median['process'] / plain:.2f}")
    print(f"control: plain with {LOAD_SHARE:.0%} of a core busy elsewhere / plain: {median['loaded'] / plain:.2f}")
    print(f"suite CPU per run (pytest and its sending process, start-up included): {median['cpu']:.2f} s median")
    for name, micros in client_costs(endpoint, settings).items():
        print(f"{name}: {micros:.0f} us median")
    return 0


def _one(kind: str, endpoint: str, bodies: list[dict[str, Any]], concurrency: int, runs: dict[str, list[float]]) -> int:
    """Time one run of `kind` into `runs`; the suite's returns how many requests it sent (the others 0)."""
    if kind == "suite":
        process_time, phase_time, sent, cpu = _suite(endpoint, concurrency)
        runs["suite"].append(phase_time)
        runs["process"].append(process_time)
        runs["cpu"].append(cpu)
        return sent
    if kind == "plain":
        runs["plain"].append(asyncio.run(plain_client(endpoint, bodies, concurrency)))
    else:
        runs["loaded"].append(_plain_under_load(endpoint, bodies, concurrency))
    return 0


def _suite(endpoint: str, concurrency: int) -> tuple[float, float, int, float]:
    """Seconds for the whole run and for its requests, requests sent, and CPU seconds of the pytest processes."""
    cpu_before = _children_cpu()
    with tempfile.TemporaryDirectory() as reports:
        started = time.perf_counter()
        subprocess.run(
            suite_command(endpoint, concurrency, Path(reports)),
            cwd=REPO_ROOT, capture_output=True, check=False, env=without_ci_summary(),
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        document = json.loads((Path(reports) / "latest" / "results.json").read_text())
    return elapsed, document["request_phase_seconds"], document["requests_sent"], _children_cpu() - cpu_before


def _children_cpu() -> float:
    """CPU seconds of the ended child processes so far: the difference around one run is that run's."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _keep_busy(stop: Any, share: float) -> None:
    """Use `share` of one core: busy for share * LOAD_PERIOD, then asleep for the rest of the period."""
    while not stop.is_set():
        started = time.perf_counter()
        while time.perf_counter() - started < share * LOAD_PERIOD:
            pass
        time.sleep((1 - share) * LOAD_PERIOD)


def _plain_under_load(endpoint: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """The plain client while another process keeps LOAD_SHARE of a core busy (a process: a thread would hold
    this one's GIL)."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    load = context.Process(target=_keep_busy, args=(stop, LOAD_SHARE), daemon=True)
    load.start()
    try:
        return asyncio.run(plain_client(endpoint, bodies, concurrency))
    finally:
        stop.set()
        load.join(timeout=5)


def _median_us(function: Any, repeat: int) -> float:
    """Median microseconds of `repeat` calls: one call is too short to time alone, and the median ignores GC pauses."""
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
