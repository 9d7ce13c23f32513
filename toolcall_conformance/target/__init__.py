"""The embedded target: vLLM's CPU build (or llama.cpp's server) serving a tiny model built locally, on loopback."""

from .launcher import (
    DEFAULT_VLLM_VENV,
    INSTALL_HINT,
    LocalTarget,
    TargetError,
    find_vllm_python,
)
from .tinymodel import FLAVOURS, build_model, load_format

__all__ = [
    "DEFAULT_VLLM_VENV",
    "FLAVOURS",
    "INSTALL_HINT",
    "LocalTarget",
    "TargetError",
    "build_model",
    "find_vllm_python",
    "load_format",
]
