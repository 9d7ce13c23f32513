"""The suite's own tests: pytester runs the conformance suite against servers on loopback."""

import os
from pathlib import Path

import pytest

from toolcall_conformance.reporting.report import CI_SUMMARY_VARIABLE
from toolcall_conformance.session import MARKERS
from toolcall_conformance.target import llamacpp
from toolcall_conformance.target.launcher import INSTALL_HINT, find_vllm_python

pytest_plugins = ["pytester"]

# The suite runs that selftests start are not the CI job's result: their summaries stay out of its page.
os.environ.pop(CI_SUMMARY_VARIABLE, None)

# Set by CI, which installs vLLM before the selftests: there a missing vLLM fails the real-vLLM tests, never skips them.
REQUIRE_VLLM = "TCC_REQUIRE_VLLM"
REQUIRE_LLAMACPP = "TCC_REQUIRE_LLAMACPP"  # the same for the llama.cpp target


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vllm: needs vLLM's CPU build (TCC_VLLM_PYTHON or scripts/install-target); starts the real server"
    )
    config.addinivalue_line(
        "markers",
        "llamacpp: needs llama.cpp's server (TCC_LLAMACPP_PYTHON or scripts/install-target --engine=llamacpp)",
    )
    # The selftests import the suite's parameters, which carry its markers; the suite's session registers them
    # only in a run of the suite, and this is not one.
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def _engine_python(python: Path | None, engine: str, variables: str, hint: str, required_by: str) -> Path:
    """An engine's Python; the test is skipped without one, and fails when the required_by variable is set."""
    if python is None:
        message = f"no {engine} environment (set {variables}); {hint}"
        if os.environ.get(required_by):
            pytest.fail(f"{message}; {required_by} is set, so {engine} must be there", pytrace=False)
        pytest.skip(message)
    return python


@pytest.fixture
def vllm_python() -> Path:
    """The Python of the installed vLLM; the test is skipped without one (fails when $TCC_REQUIRE_VLLM is set)."""
    return _engine_python(find_vllm_python(), "vLLM", "TCC_VLLM_PYTHON or TCC_VLLM_VENV", INSTALL_HINT, REQUIRE_VLLM)


@pytest.fixture
def llamacpp_python() -> Path:
    """The Python that has xllamacpp; the test is skipped without one (fails when $TCC_REQUIRE_LLAMACPP is set)."""
    variables = "TCC_LLAMACPP_PYTHON or TCC_LLAMACPP_VENV"
    return _engine_python(
        llamacpp.find_llamacpp_python(), "llama.cpp", variables, llamacpp.INSTALL_HINT, REQUIRE_LLAMACPP
    )
