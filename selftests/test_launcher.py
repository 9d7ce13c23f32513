"""The launcher: ports, readiness, failures with their log tail, and stopping a whole process group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from toolcall_conformance.target import launcher
from toolcall_conformance.target.launcher import INSTALL_HINT, LocalTarget, TargetError, find_vllm_python

# A stand-in for vLLM: starts a child process (as vLLM starts its engine), waits, then answers
# GET /v1/models and /version. argv: port, pid file, start-up delay, mode ("plain" or "stubborn",
# which ignores SIGTERM in both processes).
FAKE_SERVER = r"""
import http.server, json, os, signal, subprocess, sys, time
port, pid_file, delay, mode = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child_code = "import signal, sys, time\n"
if mode == "stubborn":
    child_code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
child_code += "time.sleep(600)\n"
child = subprocess.Popen([sys.executable, "-c", child_code])
with open(pid_file, "w") as out:
    out.write(f"{os.getpid()} {child.pid}")
print("fake server: warming up", flush=True)
time.sleep(delay)
ANSWERS = {"/v1/models": {"object": "list", "data": [{"id": "tiny-llama"}]}, "/version": {"version": "0.32.0"}}

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(ANSWERS.get(self.path, {})).encode()
        self.send_response(200 if self.path in ANSWERS else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

print("fake server: listening", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


class FakeTarget(LocalTarget):
    """LocalTarget whose command is a small Python program instead of vLLM."""

    def __init__(self, tmp_path: Path, code: str, *args: str, **kwargs) -> None:
        kwargs.setdefault("startup_timeout", 20.0)
        super().__init__(
            python=Path(sys.executable),
            model_dir=tmp_path,
            log_path=tmp_path / "logs" / "server.log",
            load_format="dummy",
            **kwargs,
        )
        self.code = code
        self.args = args
        self.pid_file = tmp_path / "pids"

    def command(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-c",
            self.code,
            str(port),
            *(a.replace("{pid_file}", str(self.pid_file)) for a in self.args),
        ]

    def pids(self) -> list[int]:
        return [int(p) for p in self.pid_file.read_text().split()]


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that will never reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> dict:
    with _OPENER.open(url, timeout=5) as response:
        return json.loads(response.read())


def test_free_port_is_bindable_on_loopback() -> None:
    port = launcher.free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_fake_server_is_started_waited_for_and_stopped_with_its_children(tmp_path: Path) -> None:
    messages: list[str] = []
    target = FakeTarget(tmp_path, FAKE_SERVER, "{pid_file}", "1.0", "plain", progress=messages.append)
    target.progress_interval = 0.2
    with target:
        assert target.base_url == f"http://127.0.0.1:{target.port}/v1"
        assert _get(target.base_url + "/models")["data"][0]["id"] == "tiny-llama"
        assert target.startup_seconds is not None and target.startup_seconds >= 1.0
        pids = target.pids()
        assert all(_alive(pid) for pid in pids)
    assert not any(_alive(pid) for pid in pids)
    assert not target.running
    assert messages and "starting vLLM" in messages[0]
    assert "fake server: listening" in (tmp_path / "logs" / "server.log").read_text()
    target.stop()  # idempotent


def test_processes_that_ignore_sigterm_are_killed_after_the_grace_period(tmp_path: Path) -> None:
    target = FakeTarget(tmp_path, FAKE_SERVER, "{pid_file}", "0", "stubborn")
    target.stop_grace = 0.5
    target.start()
    pids = target.pids()
    began = time.monotonic()
    target.stop()
    assert time.monotonic() - began < 15
    assert not any(_alive(pid) for pid in pids)


def test_server_that_exits_early_gives_the_cause_and_the_log_tail(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "for i in range(50):\n"
        "    print(f'log line {i}')\n"
        "print('RuntimeError: Unsupported CPU attention configuration: head_dim=16')\n"
        "sys.exit(3)\n"
    )
    target = FakeTarget(tmp_path, code)
    began = time.monotonic()
    with pytest.raises(TargetError) as caught:
        target.start()
    message = str(caught.value)
    assert time.monotonic() - began < 10
    assert "exited with code 3" in message
    assert "RuntimeError: Unsupported CPU attention configuration" in message.splitlines()[0]
    assert "log line 49" in message and "log line 10" not in message
    assert str(target.log_path) in message
    assert not target.running


def test_readiness_timeout_is_bounded_and_the_server_is_stopped(tmp_path: Path) -> None:
    code = "import time\nprint('loading forever', flush=True)\ntime.sleep(600)\n"
    target = FakeTarget(tmp_path, code, startup_timeout=1.5)
    began = time.monotonic()
    with pytest.raises(TargetError, match=r"did not answer GET /v1/models within 1.5 s") as caught:
        target.start()
    assert time.monotonic() - began < 8
    assert "loading forever" in str(caught.value)
    assert not target.running


PARENT = r"""
import sys, time
from pathlib import Path
from toolcall_conformance.target.launcher import LocalTarget

class Fake(LocalTarget):
    def command(self, port):
        return [sys.executable, sys.argv[1], str(port), sys.argv[2], "0", "plain"]

target = Fake(python=Path(sys.executable), model_dir=Path("."), log_path=Path(sys.argv[3]), load_format="dummy")
print(target.start(), flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_server_goes_when_the_suite_is_killed(tmp_path: Path) -> None:
    server = tmp_path / "fake_server.py"
    server.write_text(FAKE_SERVER)
    pid_file = tmp_path / "pids"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(server), str(pid_file), str(tmp_path / "log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    server_pid = None
    try:
        assert parent.stdout is not None and parent.stdout.readline().startswith("http://127.0.0.1:")
        server_pid = int(pid_file.read_text().split()[0])
        parent.kill()  # SIGKILL: no atexit, no finally
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(server_pid)
    finally:
        parent.kill()
        # The fake server leaves its child behind; vLLM stops its engine itself on SIGTERM.
        if server_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server_pid, signal.SIGKILL)


def test_a_failed_body_still_stops_the_server(tmp_path: Path) -> None:
    target = FakeTarget(tmp_path, FAKE_SERVER, "{pid_file}", "0", "plain")
    with pytest.raises(KeyError), target:
        pids = target.pids()
        raise KeyError("a test failed")
    assert not any(_alive(pid) for pid in pids)


def test_command_line_and_environment(tmp_path: Path) -> None:
    target = LocalTarget(
        python=tmp_path / "bin" / "python",
        model_dir=tmp_path / "model",
        log_path=tmp_path / "log",
        load_format="dummy",
        strict_level="parameter",
        backend="outlines",
        extra_args=["--seed", "7"],
    )
    command = target.command(8123)
    assert command[:3] == [str(tmp_path / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(command)
    for flag in (
        f"--model {tmp_path / 'model'}",
        "--host 127.0.0.1",
        "--port 8123",
        "--load-format dummy",
        "--enable-auto-tool-choice",
        "--tool-call-parser hermes",
        "--tool-strict-level parameter",
        "--structured-outputs-config.backend outlines",
        "--max-num-batched-tokens 32768",
        "--max-num-seqs 128",
    ):
        assert flag in joined
    assert command[-2:] == ["--seed", "7"]
    env = target.environment()
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert env["VLLM_NO_USAGE_STATS"] == "1"
    assert "PYTHONPATH" not in env
    without_level = LocalTarget(python=Path("p"), model_dir=Path("m"), log_path=Path("l"), load_format="dummy")
    assert "--tool-strict-level" not in without_level.command(1)
    # vLLM's default backend is no flag at all, so a release without --structured-outputs-config starts.
    assert not any("structured-outputs" in word for word in without_level.command(1))


def test_unknown_strict_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="strict level"):
        LocalTarget(python=Path("p"), model_dir=Path("m"), log_path=Path("l"), load_format="dummy", strict_level="x")


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="structured-output backend 'outline'; expected one of auto, xgrammar"):
        LocalTarget(python=Path("p"), model_dir=Path("m"), log_path=Path("l"), load_format="dummy", backend="outline")


def test_missing_python_names_the_install_command(tmp_path: Path) -> None:
    target = LocalTarget(python=tmp_path / "nope", model_dir=tmp_path, log_path=tmp_path / "log", load_format="dummy")
    with pytest.raises(TargetError, match="scripts/install-target"):
        target.start()
    assert "scripts/install-target" in INSTALL_HINT


def test_find_vllm_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    monkeypatch.setenv("TCC_VLLM_PYTHON", str(python))
    assert find_vllm_python() == python
    monkeypatch.setenv("TCC_VLLM_PYTHON", str(tmp_path / "missing"))
    assert find_vllm_python() is None
    monkeypatch.delenv("TCC_VLLM_PYTHON")
    monkeypatch.setenv("TCC_VLLM_VENV", str(tmp_path / "venv"))
    assert find_vllm_python() == python
    monkeypatch.setenv("TCC_VLLM_VENV", str(tmp_path / "elsewhere"))
    assert find_vllm_python() is None


def test_installed_packages_are_read_from_the_targets_python_and_never_fail(tmp_path: Path) -> None:
    found = launcher.installed_packages(Path(sys.executable), ("pytest", "no-such-distribution-here"))
    assert found == {"pytest": pytest.__version__}
    assert launcher.installed_packages(tmp_path / "no-python") == {}
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho not json\n")
    broken.chmod(0o755)
    assert launcher.installed_packages(broken) == {}


@pytest.mark.vllm
def test_real_vllm_serves_the_shaped_model(tmp_path: Path, vllm_python: Path) -> None:
    python = vllm_python
    from toolcall_conformance.target import build_model, load_format

    model = build_model(tmp_path / "model", "shaped")
    log = tmp_path / "vllm.log"
    with LocalTarget(python=python, model_dir=model, log_path=log, load_format=load_format("shaped")) as target:
        assert [m["id"] for m in _get(target.base_url + "/models")["data"]] == ["tiny-llama"]
        assert _get(target.base_url.removesuffix("/v1") + "/version") == {"version": "0.32.0"}
        weather = {
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "strict": True,
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            },
        }
        body = {
            "model": "tiny-llama",
            "messages": [{"role": "user", "content": "Weather in Dallas?"}],
            "tools": [weather],
            "tool_choice": "required",
            "max_tokens": 256,
            "seed": 1,
        }
        request = urllib.request.Request(
            target.base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with _OPENER.open(request, timeout=60) as response:
            choice = json.loads(response.read())["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        call = choice["message"]["tool_calls"][0]["function"]
        assert call["name"] == "get_current_weather"
        assert isinstance(json.loads(call["arguments"])["city"], str)
        pid = target.pid
        assert pid is not None
    assert not _alive(pid)
    assert not launcher._group_alive(pid)


def test_the_target_options_help_names_every_family_and_backend() -> None:
    """settings.py sits below target/ and cannot import the lists: its help text must not fall behind them."""
    from toolcall_conformance.settings import OPTIONS_BY_NAME
    from toolcall_conformance.target.tinymodel import PARSERS

    parser_help, backend_help = OPTIONS_BY_NAME["target_parser"].help, OPTIONS_BY_NAME["target_backend"].help
    assert [parser for parser in PARSERS if parser not in parser_help] == []
    assert [backend for backend in launcher.BACKENDS if backend not in backend_help] == []
