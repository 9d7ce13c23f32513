"""The pytest plugin "toolcall_conformance": the suite's options, and its session when the run holds its tests.

It is loaded only when asked for: the checkout's conftest.py, `pytest -p toolcall_conformance`, or the
toolcall-conformance command (there is no pytest11 entry point, which pytest would load into every session of
the environment). Loaded, it adds its options and nothing else until pytest_configure finds the suite's tests
among the run's paths; only then does it register the session (session.py) and the fixtures (fixtures.py).
The session reads the tool sets, registers the markers, places the reports and may start the embedded
target. A session that is not the suite's runs exactly as it would without the plugin: no Hypothesis profile
touched, no file read, no module swapped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from . import ConformanceWarning as ConformanceWarning  # where filters named it before
from .data import INSTALLED, SUITE_DIR
from .settings import add_options


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)  # before pytest's junitxml reads --junitxml and Hypothesis loads its profile
def pytest_configure(config: pytest.Config) -> None:
    if not runs_the_suite(config):
        return
    from .deferred_imports import defer

    defer()  # before session.py imports jsonschema
    from . import fixtures
    from .session import ConformanceSession

    config.pluginmanager.register(ConformanceSession.start(config), ConformanceSession.NAME)
    config.pluginmanager.register(fixtures, "toolcall-conformance-fixtures")


def runs_the_suite(config: pytest.Config) -> bool:
    """Whether the paths of this run hold the conformance tests (the xdist controller collects nothing itself).

    In a checkout a folder above tests/ holds them (the repository's root). An installed suite lies in a
    site-packages that pytest never collects, even when a project's own folder holds its virtual environment:
    there only the suite's own path (`--pyargs toolcall_conformance.suite`, or a file in it) runs it."""
    suite = SUITE_DIR.resolve()
    for arg in config.args:
        path = _path_of(config, arg.split("::")[0])
        if path is None:
            continue
        if path == suite or suite in path.parents or (not INSTALLED and path in suite.parents):
            return True
    return False


def _path_of(config: pytest.Config, arg: str) -> Path | None:
    """The file or directory a command-line argument names; with --pyargs it may name a module or package."""
    path = Path(config.invocation_params.dir, arg)
    if config.option.pyargs and not path.exists():
        try:
            spec = importlib.util.find_spec(arg)
        except (ImportError, ValueError):
            return None
        if spec is None or not (spec.origin or spec.submodule_search_locations):
            return None
        locations = list(spec.submodule_search_locations or [])
        return Path(locations[0] if locations else spec.origin or "").resolve()
    return path.resolve()
