"""Conformance suite for tool_choice="required" on OpenAI-compatible chat completion servers."""

from .deferred_imports import defer

__version__ = "0.1.0"

# The package is the pytest plugin "toolcall_conformance" (the pytest11 entry point, `-p toolcall_conformance`,
# the checkout's conftest.py); registering it loads the hooks, once, as toolcall_conformance.plugin.
pytest_plugins = ["toolcall_conformance.plugin"]

defer()
