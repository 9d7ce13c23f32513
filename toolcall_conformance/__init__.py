"""Conformance suite for tool_choice="required" on OpenAI-compatible chat completion servers.

The package is also the pytest plugin "toolcall_conformance" (`pytest -p toolcall_conformance`, the checkout's
conftest.py, the toolcall-conformance command): registering it loads the hooks, once, as
toolcall_conformance.plugin. Importing it does nothing else.
"""

__version__ = "0.1.0"

pytest_plugins = ["toolcall_conformance.plugin"]
