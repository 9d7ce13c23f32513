"""A helper process on a socket pair: the dispatcher's sender and the SDK view's worker both run in one."""

from __future__ import annotations

import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

_PACKAGE = __name__.split(".")[0]


def start_child(
    module: str, function: str, log_path: Path | None, stdout: int | None = None
) -> tuple[subprocess.Popen[bytes], Connection]:
    """Run `module.function(fd)` in a new interpreter; returns the process and this side's connection to it.

    A plain interpreter, not multiprocessing: its spawn re-imports the caller's __main__ script. What the child
    has to say (a traceback, if it ever crashes) is appended to log_path; stdout is passed to Popen as it is."""
    parent_end, child_end = socket.socketpair()
    log = _log_file(log_path)
    process = subprocess.Popen(
        [sys.executable, "-c", _program(module, function, child_end.fileno())],
        pass_fds=[child_end.fileno()],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=log,
    )
    if log is not None:
        log.close()  # the child has its own copy
    child_end.close()
    return process, Connection(parent_end.detach())


def wait_or_kill(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Wait for a child that was told to stop; kill it when it has not ended within timeout seconds."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _program(module: str, function: str, descriptor: int) -> str:
    # Once the function has returned, the child has nothing left to do: it leaves without the interpreter's
    # teardown of openai's, pydantic's and httpx's modules, which the parent would otherwise wait for at the
    # end of every run (0.1 to 0.4 s here). A function that raises still ends the normal way, its traceback
    # in the log and a non-zero exit code.
    # The child is the suite's own process, so it defers the import that slows every start (deferred_imports).
    return (
        f"from {_PACKAGE}.deferred_imports import defer; defer(); "
        f"from {module} import {function}; {function}({descriptor}); "
        "import os, sys; sys.stdout.flush(); sys.stderr.flush(); os._exit(0)"
    )


def _log_file(path: Path | None) -> IO[Any] | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("ab")
