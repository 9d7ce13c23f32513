"""How pytest is told to run the installed suite: shared by the toolcall-conformance command and the matrix."""

from __future__ import annotations

import os
from pathlib import Path

from .data import SUITE_DIR


def pytest_args(args: list[str], here: Path) -> list[str]:
    """pytest's command line: the installed suite, the plugin, rooted in the current directory."""
    given = {arg.split("=", 1)[0] for arg in args}
    command = [str(SUITE_DIR), "-p", "toolcall_conformance", f"--rootdir={here}"]
    if not given & {"-c", "--config-file", "--inifile"}:
        command += ["-c", os.devnull, "-o", "asyncio_default_fixture_loop_scope=function"]
    if "--hypothesis-profile" not in given:
        command.append("--hypothesis-profile=ci")
    return command + args
