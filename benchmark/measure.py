"""What both benchmarks share: the suite's request bodies, the plain client that sends them, the suite's run.

Both compare the suite with a plain client sending the same bodies to the same server, so the bodies, the
client and the pytest command the suite runs as are defined once, here; the two benchmarks import this
module and nothing imports them back.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from toolcall_conformance.inputs.cases import equivalence_pairs, named_cases, parallel_off_cases, required_cases
from toolcall_conformance.reporting.report import CI_SUMMARY_VARIABLE
from toolcall_conformance.settings import OPTIONS_BY_NAME, Settings
from toolcall_conformance.target import LocalTarget, build_model, find_vllm_python, load_format
from toolcall_conformance.wire.dispatch import request_key
from toolcall_conformance.wire.pools import POOL_SIZE, ClientPools

# The checkout this folder lies in: the benchmark runs its tests/, whichever copy of the package is installed.
REPO_ROOT = Path(__file__).resolve().parent.parent
# The curated tests: the generated and bad-request tests send other bodies than the plain client (and than a
# recording holds), and the SDK-client tests send through the openai SDK.
SELECTION = "not hypothesis and not bad_request and not sdk_client"


def default_settings(endpoint: str, model: str) -> Settings:
    """The settings of a run with every option at its default: the bodies the suite sends when nothing is set."""
    defaults = {o.name: o.default for o in OPTIONS_BY_NAME.values() if o.name not in ("endpoint", "model")}
    return Settings(endpoint=endpoint, model=model, **defaults)


def suite_bodies(settings: Settings) -> list[dict[str, Any]]:
    """Every distinct request body the curated suite sends, in its order."""
    cases = [*named_cases(), *parallel_off_cases(), *required_cases()]
    cases += [case for pair in equivalence_pairs() for case in pair.both]
    unique = {request_key(body): body for body in (case.body(settings) for case in cases)}
    return list(unique.values())


async def plain_client(endpoint: str, bodies: list[dict[str, Any]], concurrency: int, one_pool: bool = False) -> float:
    """Seconds for a plain client to send the bodies, `concurrency` at a time, reading every byte. Its
    connections are split into pools as the suite's are (wire/pools.py), so that the two differ by the suite's
    own work only; one_pool: all in one httpx client, to show what the pools save."""
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


def suite_command(endpoint: str, concurrency: int, reports: Path, repeat: int = 1) -> list[str]:
    """The pytest command of one measured run of the curated suite, writing its results.json under `reports`."""
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO_ROOT / "tests"),
            f"--rootdir={REPO_ROOT}", f"--endpoint={endpoint}", f"--concurrency={concurrency}",
            f"--repeat={repeat}", f"--report-dir={reports}", "-m", SELECTION]  # fmt: skip


def without_ci_summary() -> dict[str, str]:
    """The environment for a measured run, whose summary does not belong on a CI job's page."""
    return {name: value for name, value in os.environ.items() if name != CI_SUMMARY_VARIABLE}


def embedded_target(folder: Path) -> LocalTarget | None:
    """The embedded vLLM target with its tiny model in `folder`, not yet started; None when vLLM is not installed."""
    python = find_vllm_python()
    if python is None:
        return None
    return LocalTarget(
        python=python, model_dir=build_model(folder), log_path=folder / "vllm.log",
        load_format=load_format("shaped"), progress=_progress,
    )  # fmt: skip


def _progress(line: str) -> None:
    """The target's start-up lines on stderr, cut short: stdout is the benchmark's figures."""
    print(f"  {line}"[:120], file=sys.stderr)
