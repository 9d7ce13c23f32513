"""The suite's own tests: pytester runs the conformance suite against servers on loopback."""

import os

import pytest

from toolcall_conformance.report import CI_SUMMARY_VARIABLE

pytest_plugins = ["pytester"]

# The suite runs that selftests start are not the CI job's result: their summaries stay out of its page.
os.environ.pop(CI_SUMMARY_VARIABLE, None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vllm: needs vLLM's CPU build (TCC_VLLM_PYTHON or scripts/install-target); starts the real server"
    )
