"""install-target: installs the embedded target (vLLM's CPU build, or with --engine=llamacpp llama.cpp's server)
with the install script this copy carries.

The same script as the checkout's scripts/install-target (a wheel carries it as package data): same steps,
same progress lines, same options (--engine, TCC_VLLM_VERSION, TCC_VLLM_VENV, TCC_LLAMACPP_VENV, PYTHON,
TCC_PIP_ARGS, TCC_TORCH_PIP_ARGS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from ..data import INSTALL_TARGET_SCRIPT


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(
            "usage: python -m toolcall_conformance install-target [--engine=vllm|llamacpp]"
            "  (installed: toolcall-conformance install-target)\n"
        )
        print(__doc__.strip())
        return 0
    bash = shutil.which("bash")
    if bash is None:
        print("install-target: the install script needs bash, and there is none on PATH", file=sys.stderr)
        return 2
    environment = dict(os.environ)
    environment.setdefault("PYTHON", sys.executable)  # the target's venv is made from the Python running this
    return subprocess.call([bash, str(INSTALL_TARGET_SCRIPT), *args], env=environment)
