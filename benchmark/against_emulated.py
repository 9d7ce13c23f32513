"""The benchmark against the emulated fast server: does the suite keep its requests in flight, and what does
it cost as the work grows?

    python -m benchmark --emulated [--rounds R] [--record] [--recording FILE]

The emulated server (emulated.py) replays answers recorded from the embedded vLLM with the latency of a small
model on one GPU, in its own process and at little CPU, so the suite and a plain client are measured against a
server whose time is not theirs. Per concurrency (16, 64): rounds of suite and plain client in rotating order;
the request-phase ratio (suite's first request to last verdict, over the plain client's time), when the
suite's last answer came, and the whole runs. The plain client splits its connections into pools as the
suite does (wire/pools.py); the same client in one httpx pool is timed beside it, to show what that costs.
Then the scale: the same server with the cases sent 1, 10 and 50 times (--repeat): wall time, the suite's
CPU and peak RSS per size. The last line is `ratio=<median request-phase ratio at 64> cpu_ms_per_test=<...>`.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolcall_conformance.wire.preflight import preflight

from . import emulated
from .measure import (
    REPO_ROOT,
    default_settings,
    embedded_target,
    plain_client,
    suite_bodies,
    suite_command,
    without_ci_summary,
)

CONCURRENCIES = (16, 64)
SCALES = (1, 10, 50)


@dataclass(frozen=True)
class SuiteRun:
    """One measured pytest run of the suite."""

    wall: float  # the whole process
    phase: float  # first request sent to last verdict (results.json)
    answers: float  # first request sent to last answer received (results.json requests_seconds)
    sent: int
    tests: int
    cpu: float  # pytest and its sending process
    peak_rss_mb: float


def suite_run(endpoint: str, concurrency: int, repeat: int = 1) -> SuiteRun:
    """Run the curated suite once in a subprocess; its own rusage (wait4) gives CPU and peak RSS."""
    with tempfile.TemporaryDirectory() as reports:
        started = time.perf_counter()
        process = subprocess.Popen(
            suite_command(endpoint, concurrency, Path(reports), repeat),
            cwd=REPO_ROOT, env=without_ci_summary(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _, _, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        document = json.loads((Path(reports) / "latest" / "results.json").read_text())
    # Failing tests are expected (the recording is of vLLM's real answers); a broken exchange would spoil the timing.
    errors = [record["test"] for record in document["tests"] if record["verdict"] in ("error", "timeout")]
    if errors:
        raise RuntimeError(f"{len(errors)} tests could not get their answer, first {errors[0]}")
    return SuiteRun(
        wall=wall,
        phase=document["request_phase_seconds"],
        answers=document["requests_seconds"],
        sent=document["requests_sent"],
        tests=len(document["tests"]),
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
    )


def run(rounds: int, recording: Path, rerecord: bool) -> int:
    """The whole benchmark: record first when asked (or when there is no recording), then measure."""
    if rerecord or not recording.exists():
        _record(recording)
    document = emulated.load(recording)
    server, endpoint = _start_server(recording)
    try:
        bodies = suite_bodies(default_settings(endpoint, document["model"]))
        print(f"emulated server: {endpoint}, {len(document['answers'])} answers recorded from vLLM "
              f"{document.get('server_version')} on {document.get('recorded')}; time to first byte "
              f"{emulated.TTFB * 1000:.0f} ms, {emulated.CHUNK_DELAY * 1000:.0f} ms per chunk, capacity "
              f"{emulated.CAPACITY}")  # fmt: skip
        asyncio.run(plain_client(endpoint, bodies[:8], 8))  # the first connection and imports out of the way
        figures = {concurrency: _at_concurrency(endpoint, bodies, concurrency, rounds) for concurrency in CONCURRENCIES}
        _scale(endpoint)
    finally:
        server.terminate()
        server.wait(timeout=10)
    ratio, cpu_ms_per_test = figures[64]
    print(f"ratio={ratio:.2f} cpu_ms_per_test={cpu_ms_per_test:.1f}")
    return 0


def _at_concurrency(endpoint: str, bodies: list[dict[str, Any]], concurrency: int, rounds: int) -> tuple[float, float]:
    """Rounds of suite, plain client and one-pool client; returns the request-phase ratio and CPU ms per test."""
    suites: list[SuiteRun] = []
    plains: list[float] = []
    one_pools: list[float] = []
    for round_number in range(rounds):
        order = ("suite", "plain", "one pool") if round_number % 2 == 0 else ("one pool", "plain", "suite")
        for kind in order:
            if kind == "suite":
                suites.append(suite_run(endpoint, concurrency))
            elif kind == "plain":
                plains.append(asyncio.run(plain_client(endpoint, bodies, concurrency)))
            else:
                one_pools.append(asyncio.run(plain_client(endpoint, bodies, concurrency, one_pool=True)))
        print(f"  concurrency {concurrency}, round {round_number + 1}: suite {suites[-1].phase:.2f} s for its "
              f"{suites[-1].sent} requests ({suites[-1].answers:.2f} s to the last answer, {suites[-1].wall:.2f} s "
              f"whole run, {suites[-1].cpu:.2f} s CPU); plain {plains[-1]:.2f} s for {len(bodies)} "
              f"(one httpx pool: {one_pools[-1]:.2f} s)", flush=True)  # fmt: skip
    phase, wall, answers = (statistics.median(s.phase for s in suites), statistics.median(s.wall for s in suites),
                            statistics.median(s.answers for s in suites))  # fmt: skip
    plain, one_pool = statistics.median(plains), statistics.median(one_pools)
    ratio = phase / plain
    cpu_ms_per_test = statistics.median(s.cpu / s.tests for s in suites) * 1000
    print(f"concurrency {concurrency}: request phase suite {phase:.2f} s / plain {plain:.2f} s = "
          f"{ratio:.2f} (target <= 1.10); last answer after {answers:.2f} s = "
          f"{answers / plain:.2f} x plain; plain in one httpx pool {one_pool:.2f} s; whole suite run {wall:.2f} s = plain + "
          f"{wall - plain:.2f} s (target <= plain + 3 s); suite CPU {cpu_ms_per_test:.1f} ms "
          f"per test", flush=True)  # fmt: skip
    return ratio, cpu_ms_per_test


def _scale(endpoint: str) -> None:
    """The suite's cost as its work grows: each case sent K times, at concurrency 64, as a Markdown table."""
    print("scale, concurrency 64 (each case sent K times, --repeat=K):")
    print("| K | judged answers | wall | suite CPU | CPU per answer | peak RSS |")
    print("|---|---|---|---|---|---|")
    for repeat in SCALES:
        measured = suite_run(endpoint, 64, repeat)
        answers = measured.tests * repeat
        print(f"| {repeat} | {answers} | {measured.wall:.1f} s | {measured.cpu:.1f} s | "
              f"{measured.cpu / answers * 1000:.2f} ms | {measured.peak_rss_mb:.0f} MB |", flush=True)  # fmt: skip


def _record(path: Path) -> None:
    """Record the suite's curated answers from the embedded vLLM (started here, stopped after)."""
    with tempfile.TemporaryDirectory(prefix="tcc-record-") as folder:
        target = embedded_target(Path(folder))
        if target is None:
            raise SystemExit("no recording and no vLLM installed to record one from: run scripts/install-target")
        endpoint = target.start()
        try:
            found = preflight(endpoint, "EMPTY", None)
            bodies = suite_bodies(default_settings(endpoint, found.model))
            count = emulated.record(endpoint, "EMPTY", bodies, found.model, found.server_version, path)
        finally:
            target.stop()
    print(f"recorded {count} answers of vLLM {found.server_version} into {path}", file=sys.stderr)


def _start_server(recording: Path) -> tuple[subprocess.Popen[str], str]:
    """The emulated server in a process of its own (its time must not be the suite's), and its URL."""
    command = [sys.executable, "-m", "benchmark.emulated", f"--recording={recording}"]
    server = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    if not url.startswith("http://"):
        server.kill()
        raise SystemExit(f"the emulated server did not start (it said {url!r})")
    return server, url
