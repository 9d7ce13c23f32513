"""The suite's own tests: pytester runs the conformance suite against servers on loopback."""

import pytest

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vllm: needs vLLM's CPU build (TCC_VLLM_PYTHON or scripts/install-target); starts the real server"
    )
