"""A local OpenAI-compatible server as a child process on loopback: started, waited for, stopped with its group.

Engine-neutral: a subclass says which command and environment start its server (launcher.LocalTarget for vLLM,
llamacpp.LlamaCppTarget for llama.cpp). Everything else, the free port, the wait for GET /v1/models with
progress lines, the log's tail on failure, and no orphan on Ctrl-C or when the suite itself is killed, is here.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

LOG_TAIL_LINES = 30
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def engine_venv(venv_variable: str, default_name: str) -> Path:
    """Where an engine is installed: $venv_variable, else ~/.cache/toolcall-conformance/default_name (the install
    script's default place)."""
    configured = os.environ.get(venv_variable)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "toolcall-conformance" / default_name


def find_engine_python(python_variable: str, venv_variable: str, default_name: str) -> Path | None:
    """An engine's Python: $python_variable, else its venv's bin/python (engine_venv), if it exists."""
    configured = os.environ.get(python_variable)
    if configured:
        path = Path(configured).expanduser()
        return path if path.exists() else None
    candidate = engine_venv(venv_variable, default_name) / "bin" / "python"
    return candidate if candidate.exists() else None


class TargetError(RuntimeError):
    """The embedded target could not be started; the message names the cause and shows the log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a log file (empty if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


_ERROR_LINE = re.compile(r"\b\w*(Error|Exception|Exit)\w*\b[:(]")


def _cause_from_log(lines: Sequence[str]) -> str | None:
    """The last line that looks like a raised exception, with its indented details, if any."""
    for index in range(len(lines) - 1, -1, -1):
        if _ERROR_LINE.search(lines[index]) and not lines[index].startswith(" "):
            # e.g. pydantic's "1 validation error for ModelConfig" states the reason on the next line.
            details = [line.strip() for line in lines[index + 1 : index + 3] if line.startswith(" ")]
            return " | ".join([lines[index].strip(), *details])[:400]
    return None


# Loopback never goes through a proxy, whatever http_proxy says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _is_ready(url: str, timeout: float = 2.0) -> bool:
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status == 200 and "data" in json.loads(response.read() or b"{}")
    except (OSError, ValueError):
        return False


class ServerProcess:
    """A server on a free loopback port, in a process group of its own; a context manager."""

    engine = "the server"  # how messages name it
    install_hint = "install it first"

    def __init__(
        self,
        *,
        python: Path,
        log_path: Path,
        startup_timeout: float = 240.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.python = Path(python)
        self.log_path = Path(log_path)
        self.startup_timeout = startup_timeout
        self.progress = progress
        self.stop_grace = 15.0
        self.progress_interval = 5.0
        self.port: int | None = None
        self.base_url = ""
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def command(self, port: int) -> list[str]:
        """The server's command line for a port."""
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        """The server's environment: the caller's, run in the venv of self.python (a subclass adds its engine's)."""
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(
            {
                "VIRTUAL_ENV": str(self.python.parent.parent),
                "PATH": os.pathsep.join([str(self.python.parent), env.get("PATH", "")]),
                "NO_COLOR": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def start(self) -> str:
        """Start the server, wait until GET /v1/models answers, and return the base URL."""
        if self._process is not None:
            return self.base_url
        if not self.python.exists():
            raise TargetError(f"no Python at {self.python}; {self.install_hint}")
        self.port = free_port()
        url = f"http://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            # A new session makes the server the leader of its own process group, so stop() can
            # signal it together with the processes it starts (vLLM's engine and workers).
            self._process = subprocess.Popen(
                self.command(self.port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,
                preexec_fn=_die_with_parent if _libc_ready() else None,
            )
        atexit.register(self.stop)
        try:
            self._wait_until_ready(url + "/v1/models", started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        self.base_url = url + "/v1"
        return self.base_url

    def _wait_until_ready(self, models_url: str, started: float) -> None:
        assert self._process is not None
        deadline = started + self.startup_timeout
        next_report = started + self.progress_interval
        while True:
            code = self._process.poll()
            if code is not None:
                raise self._failure(f"{self.engine} exited with code {code} before it was ready")
            if _is_ready(models_url):
                return
            now = time.monotonic()
            if now >= deadline:
                raise self._failure(f"{self.engine} did not answer GET /v1/models within {self.startup_timeout:g} s")
            if self.progress is not None and now >= next_report:
                last = next((line for line in reversed(log_tail(self.log_path, 5)) if line.strip()), "")
                self.progress(f"starting {self.engine}: {now - started:.0f} s; {last.strip()[:160]}")
                next_report = now + self.progress_interval
            time.sleep(min(0.5, max(0.0, deadline - now)))

    def _failure(self, what: str) -> TargetError:
        tail = log_tail(self.log_path)
        cause = _cause_from_log(tail)
        lines = [what + (f": {cause}" if cause else ""), f"server log: {self.log_path}"]
        if tail:
            lines += [f"--- last {len(tail)} lines of the log ---", *tail]
        return TargetError("\n".join(lines))

    @property
    def pid(self) -> int | None:
        """Process id of the server, the leader of its process group (None when stopped)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the server and every process of its group: SIGTERM, then SIGKILL after a grace period."""
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        # The server shuts down what it started in order when it gets SIGTERM (vLLM its engine and worker
        # processes); whatever of the group outlives it gets SIGTERM too, then SIGKILL.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=self.stop_grace)
        for sig, grace in ((signal.SIGTERM, min(5.0, self.stop_grace)), (signal.SIGKILL, 5.0)):
            if not _group_alive(process.pid):
                break
            _signal_group(process.pid, sig)
            deadline = time.monotonic() + grace
            while _group_alive(process.pid) and time.monotonic() < deadline:
                process.poll()
                time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5.0)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the launching thread dies, even by SIGKILL."""
    # No atexit handler runs when the suite itself is killed; this way the server still goes.
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _libc_ready() -> bool:
    """Load libc before forking (nothing may be imported or loaded between fork and exec)."""
    if sys.platform != "linux":
        return False
    try:
        _libc()
    except OSError:
        return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether a process group still has a member that is not a zombie."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # After "pid (comm) " come: state, ppid, pgrp, ...
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False
