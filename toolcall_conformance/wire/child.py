"""A helper process on a socket pair: the dispatcher's sender and the SDK view's worker both run in one."""

from __future__ import annotations

import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any


def start_child(
    module: str, function: str, log_path: Path | None, stdout: int | None = None
) -> tuple[subprocess.Popen[bytes], Connection]:
    """Run `module.function(fd)` in a new interpreter; returns the process and this side's connection to it.

    A plain interpreter, not multiprocessing: its spawn re-imports the caller's __main__ script. What the child
    has to say (a traceback, if it ever crashes) is appended to log_path; stdout is passed to Popen as it is."""
    parent_end, child_end = socket.socketpair()
    log = _log_file(log_path)
    process = subprocess.Popen(
        [sys.executable, "-c", f"from {module} import {function}; {function}({child_end.fileno()})"],
        pass_fds=[child_end.fileno()],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=log,
    )
    if log is not None:
        log.close()  # the child has its own copy
    child_end.close()
    return process, Connection(parent_end.detach())


def _log_file(path: Path | None) -> IO[Any] | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("ab")
