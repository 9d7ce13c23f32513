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


@pytest.fixture
def vllm_python() -> Path:
    """The Python of the installed vLLM; the test is skipped without one (fails when $TCC_REQUIRE_VLLM is set)."""
    python = find_vllm_python()
    if python is None:
        message = f"no vLLM environment (set TCC_VLLM_PYTHON or TCC_VLLM_VENV); {INSTALL_HINT}"
        if os.environ.get(REQUIRE_VLLM):
            pytest.fail(f"{message}; {REQUIRE_VLLM} is set, so vLLM must be there", pytrace=False)
        pytest.skip(message)
    return python


@pytest.fixture
def llamacpp_python() -> Path:
    """The Python that has xllamacpp; the test is skipped without one (fails when $TCC_REQUIRE_LLAMACPP is set)."""
    python = llamacpp.find_llamacpp_python()
    if python is None:
        message = f"no llama.cpp environment (set TCC_LLAMACPP_PYTHON or TCC_LLAMACPP_VENV); {llamacpp.INSTALL_HINT}"
        if os.environ.get(REQUIRE_LLAMACPP):
            pytest.fail(f"{message}; {REQUIRE_LLAMACPP} is set, so llama.cpp must be there", pytrace=False)
        pytest.skip(message)
    return python
