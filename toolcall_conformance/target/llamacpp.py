"""llama.cpp's own OpenAI-compatible server on loopback: the embedded target's second engine.

The server is llama.cpp's tools/server as the xllamacpp wheel embeds it (prebuilt for CPU, no compile step),
in a virtual environment of its own, started by serve_llamacpp.py in a child process, so that it is stopped
with its process group like vLLM is. The model is the GGUF form of the tiny model vLLM serves (gguf.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..data import INSTALL_TARGET_COMMAND
from .launcher import SERVED_MODEL_NAME, installed_packages
from .process import ServerProcess, engine_venv, find_engine_python

XLLAMACPP_VERSION = "2026.10.11549"
# xllamacpp's version ends with the llama.cpp build it embeds; its BUILD_INFO says build 0, commit unknown.
LLAMACPP_BUILD = "b" + XLLAMACPP_VERSION.rsplit(".", 1)[1]
ENGINES = ("vllm", "llamacpp")
ENGINE_NAMES = {"vllm": "vLLM", "llamacpp": "llama.cpp"}
INSTALL_COMMAND = f"{INSTALL_TARGET_COMMAND} --engine=llamacpp"
INSTALL_HINT = (
    f"install the embedded llama.cpp target (xllamacpp {XLLAMACPP_VERSION}, llama.cpp {LLAMACPP_BUILD}, in its own"
    f" virtual environment) with: {INSTALL_COMMAND}"
)
SERVE_SCRIPT = Path(__file__).resolve().parent / "serve_llamacpp.py"
REPORTED_PACKAGES = ("xllamacpp",)
# Requests decoded at once: llama-server's own default (--parallel -1, "auto": 4 slots sharing one KV cache;
# tools/server/server.cpp of b11549, lines 168-172), each with vLLM's --max-model-len of context. More requests
# than slots wait in llama.cpp's queue.
SLOTS = 4
# One thread decodes. llama.cpp's default is a thread per core, which wait for each other by spinning: with another
# process busy on this machine's 2 cores (a second llama.cpp, vLLM, the selftests), a run of 48 tests took 36 s
# instead of 9 s. The tiny model gains nothing from a second thread.
THREADS = 1
SLOT_CONTEXT = 16384


VENV_NAME = f"xllamacpp-{XLLAMACPP_VERSION}"
DEFAULT_LLAMACPP_VENV: Path = engine_venv("TCC_LLAMACPP_VENV", VENV_NAME)


def find_llamacpp_python() -> Path | None:
    """The Python that has xllamacpp: $TCC_LLAMACPP_PYTHON, else the default venv's bin/python if it exists."""
    return find_engine_python("TCC_LLAMACPP_PYTHON", "TCC_LLAMACPP_VENV", VENV_NAME)


class LlamaCppTarget(ServerProcess):
    """llama.cpp's server for one GGUF file on a free loopback port; a context manager."""

    engine = "llama.cpp"
    install_hint = INSTALL_HINT

    def __init__(
        self,
        *,
        python: Path,
        model_path: Path,
        log_path: Path,
        startup_timeout: float = 240.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(python=python, log_path=log_path, startup_timeout=startup_timeout, progress=progress)
        self.model_path = Path(model_path)

    def command(self, port: int) -> list[str]:
        """The server's command line."""
        return [
            str(self.python),
            str(SERVE_SCRIPT),
            "--model",
            str(self.model_path),
            "--alias",
            SERVED_MODEL_NAME,
            "--port",
            str(port),
            "--slots",
            str(SLOTS),
            "--slot-context",
            str(SLOT_CONTEXT),
            "--threads",
            str(THREADS),
        ]

    def environment(self) -> dict[str, str]:
        """The server's environment: the venv's Python, plain unbuffered logs, no llama.cpp settings of the caller."""
        return {key: value for key, value in super().environment().items() if not key.startswith("LLAMA_ARG_")}

    def packages(self) -> dict[str, str]:
        """The versions that decide what a request gets: xllamacpp, whose version names llama.cpp's build."""
        return installed_packages(self.python, REPORTED_PACKAGES)
