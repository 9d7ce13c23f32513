"""The benchmark against the emulated fast server: does the suite keep its requests in flight, and what does
it cost as the work grows?

    python -m toolcall_conformance benchmark --emulated [--rounds R] [--record]

The emulated server (emulated.py) replays answers recorded from the embedded vLLM with the latency of a small
model on one GPU, in its own process and at little CPU, so the suite and a plain client are measured against a
server whose time is not theirs. Per concurrency (16, 64): rounds of suite and plain client in rotating order;
the request-phase ratio (suite's first request to last verdict, over the plain client's time), when the
suite's last answer came, and the whole runs. The plain client splits its connections into pools as the
suite does (wire/pools.py); the same client in one httpx pool is timed beside it, to show what that costs. Then the scale: the same server with the cases sent 1, 10 and 50 times (--repeat): wall time, the suite's
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

from . import emulated
from .benchmark import _plain, _without_ci_summary, suite_bodies
from .data import REPO_ROOT
from .settings import OPTIONS_BY_NAME, Settings

CONCURRENCIES = (16, 64)
SCALES = (1, 10, 50)
SELECTION = "not hypothesis and not bad_request and not sdk_client"  # the curated tests: recorded bodies only


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
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO_ROOT / "tests"),
                   f"--rootdir={REPO_ROOT}", f"--endpoint={endpoint}", f"--concurrency={concurrency}",
                   f"--repeat={repeat}", f"--report-dir={reports}", "-m", SELECTION]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=_without_ci_summary(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
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


def _record(path: Path) -> None:
    """Record the suite's curated answers from the embedded vLLM (started here, stopped after)."""
    from .target import LocalTarget, build_model, find_vllm_python, load_format
    from .wire.preflight import preflight

    python = find_vllm_python()
    if python is None:
        raise SystemExit("no recording and no vLLM installed to record one from: run scripts/install-target")
    with tempfile.TemporaryDirectory(prefix="tcc-record-") as folder:
        target = LocalTarget(
            python=python, model_dir=build_model(Path(folder)), log_path=Path(folder) / "vllm.log",
            load_format=load_format("shaped"), progress=lambda line: print(f"  {line}"[:120], file=sys.stderr),
        )  # fmt: skip
        endpoint = target.start()
        try:
            found = preflight(endpoint, "EMPTY", None)
            bodies = suite_bodies(_settings(endpoint, found.model))
            count = emulated.record(endpoint, "EMPTY", bodies, found.model, found.server_version, path)
        finally:
            target.stop()
    print(f"recorded {count} answers of vLLM {found.server_version} into {path}", file=sys.stderr)


def _settings(endpoint: str, model: str) -> Settings:
    defaults = {o.name: o.default for o in OPTIONS_BY_NAME.values() if o.name not in ("endpoint", "model")}
    return Settings(endpoint=endpoint, model=model, **defaults)


def _start_server(recording: Path) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "toolcall_conformance", "emulate", f"--recording={recording}"]
    server = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    if not url.startswith("http://"):
        server.kill()
        raise SystemExit(f"the emulated server did not start (it said {url!r})")
    return server, url


def _median(values: list[float]) -> float:
    return statistics.median(values)


def run(rounds: int, recording: Path, rerecord: bool) -> int:
    if rerecord or not recording.exists():
        _record(recording)
    document = emulated.load(recording)
    server, endpoint = _start_server(recording)
    try:
        bodies = suite_bodies(_settings(endpoint, document["model"]))
        print(f"emulated server: {endpoint}, {len(document['answers'])} answers recorded from vLLM "
              f"{document.get('server_version')} on {document.get('recorded')}; time to first byte "
              f"{emulated.TTFB * 1000:.0f} ms, {emulated.CHUNK_DELAY * 1000:.0f} ms per chunk, capacity "
              f"{emulated.CAPACITY}")  # fmt: skip
        asyncio.run(_plain(endpoint, bodies[:8], 8))  # the first connection and imports out of the way
        ratios: dict[int, float] = {}
        cpu_per_test: dict[int, float] = {}
        for concurrency in CONCURRENCIES:
            suites: list[SuiteRun] = []
            plains: list[float] = []
            one_pools: list[float] = []
            for round_number in range(rounds):
                order = ("suite", "plain", "one pool") if round_number % 2 == 0 else ("one pool", "plain", "suite")
                for kind in order:
                    if kind == "suite":
                        suites.append(suite_run(endpoint, concurrency))
                    elif kind == "plain":
                        plains.append(asyncio.run(_plain(endpoint, bodies, concurrency)))
                    else:
                        one_pools.append(asyncio.run(_plain(endpoint, bodies, concurrency, one_pool=True)))
                print(f"  concurrency {concurrency}, round {round_number + 1}: suite {suites[-1].phase:.2f} s for its "
                      f"{suites[-1].sent} requests ({suites[-1].answers:.2f} s to the last answer, {suites[-1].wall:.2f} s "
                      f"whole run, {suites[-1].cpu:.2f} s CPU); plain {plains[-1]:.2f} s for {len(bodies)} "
                      f"(one httpx pool: {one_pools[-1]:.2f} s)", flush=True)  # fmt: skip
            phase, wall, plain = (
                _median([s.phase for s in suites]),
                _median([s.wall for s in suites]),
                _median(plains),
            )
            answers, one_pool = _median([s.answers for s in suites]), _median(one_pools)
            ratios[concurrency] = phase / plain
            cpu_per_test[concurrency] = _median([s.cpu / s.tests for s in suites]) * 1000
            print(f"concurrency {concurrency}: request phase suite {phase:.2f} s / plain {plain:.2f} s = "
                  f"{ratios[concurrency]:.2f} (target <= 1.10); last answer after {answers:.2f} s = "
                  f"{answers / plain:.2f} x plain; plain in one httpx pool {one_pool:.2f} s; whole suite run {wall:.2f} s = plain + "
                  f"{wall - plain:.2f} s (target <= plain + 3 s); suite CPU {cpu_per_test[concurrency]:.1f} ms "
                  f"per test", flush=True)  # fmt: skip
        print("scale, concurrency 64 (each case sent K times, --repeat=K):")
        print("| K | judged answers | wall | suite CPU | CPU per answer | peak RSS |")
        print("|---|---|---|---|---|---|")
        for repeat in SCALES:
            measured = suite_run(endpoint, 64, repeat)
            answers = measured.tests * repeat
            print(f"| {repeat} | {answers} | {measured.wall:.1f} s | {measured.cpu:.1f} s | "
                  f"{measured.cpu / answers * 1000:.2f} ms | {measured.peak_rss_mb:.0f} MB |", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"ratio={ratios[64]:.2f} cpu_ms_per_test={cpu_per_test[64]:.1f}")
    return 0
