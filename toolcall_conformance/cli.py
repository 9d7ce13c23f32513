"""The toolcall-conformance command: the suite from an installed package, from any directory.

  toolcall-conformance --endpoint=URL [PYTEST ARGS]   the suite against your server
  toolcall-conformance [--embedded] [PYTEST ARGS]     against the embedded target (vLLM's CPU build, tiny model)
  toolcall-conformance --target-engine=llamacpp       against the embedded llama.cpp target (the same tiny model)
  toolcall-conformance install-target [--engine=E]   install the embedded target (vllm, or llamacpp), once
  toolcall-conformance COMMAND [ARGS]                 the other tools: compare, expectations, contract, ...

Reports go to reports/ in the current directory (--report-dir changes that), pytest's cache to .pytest_cache
there. No ini file is read unless you pass one (-c pyproject.toml reads its tcc_* keys); options also come
from TCC_* environment variables. Generated tests use --hypothesis-profile=ci unless you choose another.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from .__main__ import COMMANDS
from .__main__ import main as tool_main
from .invocation import pytest_args

PROG = "toolcall-conformance"
NO_TARGET_NEEDED = ("--collect-only", "--co", "--help", "-h", "--version", "-V", "--markers", "--fixtures")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        return tool_main(args)
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__.strip() + "\n\npytest's options, the suite's among them, follow.\n")
    embedded = "--embedded" in args
    args = [arg for arg in args if arg != "--embedded"]
    endpoint = any(arg == "--endpoint" or arg.startswith("--endpoint=") for arg in args) or bool(
        os.environ.get("TCC_ENDPOINT")
    )
    if embedded and endpoint:
        return _usage_error("--embedded and --endpoint (or $TCC_ENDPOINT) exclude each other: choose one target")
    if not endpoint and not any(arg in NO_TARGET_NEEDED for arg in args):
        problem = embedded_target_problem(_engine(args))
        if problem:
            return _usage_error(problem)
    # pytest in this process's place: nothing of the suite is imported before it, signals and exit status are its.
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *pytest_args(args, Path.cwd())])


def _engine(args: list[str]) -> str:
    """The engine the arguments (else $TCC_TARGET_ENGINE) ask for; an unknown one is the suite's to refuse."""
    engine = os.environ.get("TCC_TARGET_ENGINE") or "vllm"
    for previous, arg in zip(["", *args], args, strict=False):
        if arg.startswith("--target-engine="):
            engine = arg.removeprefix("--target-engine=")
        elif previous == "--target-engine":
            engine = arg
    return engine


def embedded_target_problem(engine: str = "vllm") -> str | None:
    """Why the embedded target cannot start here, as one line with what to do; None when it can."""
    from .target import llamacpp
    from .target.launcher import DEFAULT_VLLM_VENV, INSTALL_HINT, find_vllm_python

    if engine == "llamacpp":
        if llamacpp.find_llamacpp_python() is None:
            where = os.environ.get("TCC_LLAMACPP_PYTHON") or llamacpp.DEFAULT_LLAMACPP_VENV
            said = f"no --endpoint given and llama.cpp is not installed at {where}: {llamacpp.INSTALL_HINT}"
            return f"{said}; or give --endpoint=URL"
        return None
    if engine != "vllm":
        return None  # the suite refuses it, naming the engines it knows
    if find_vllm_python() is None:
        where = os.environ.get("TCC_VLLM_PYTHON") or DEFAULT_VLLM_VENV
        return f"no --endpoint given and vLLM is not installed at {where}: {INSTALL_HINT}; or give --endpoint=URL"
    if importlib.util.find_spec("tokenizers") is None:
        return (
            "the embedded target builds its tiny model with the tokenizers package: "
            "pip install 'toolcall-conformance[local]', or test your server with --endpoint=URL"
        )
    return None


def _usage_error(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 4  # pytest's exit status for a usage error


if __name__ == "__main__":
    sys.exit(main())
