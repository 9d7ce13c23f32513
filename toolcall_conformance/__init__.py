"""Conformance suite for tool_choice="required" on OpenAI-compatible chat completion servers.

The package is also the pytest plugin "toolcall_conformance" (`pytest -p toolcall_conformance`, the checkout's
conftest.py, the toolcall-conformance command): registering it loads the hooks, once, as
toolcall_conformance.plugin. Importing it does nothing else.
"""

__version__ = "0.1.0"
__all__ = ["ConformanceWarning"]


class ConformanceWarning(UserWarning):
    """A SHOULD-level rule was broken, or a known failure was fixed: the test passes, the warning says what.

    Here, so that a filter (filterwarnings = error::toolcall_conformance.ConformanceWarning) names it without
    importing the suite's machinery; toolcall_conformance.plugin.ConformanceWarning is the same class."""


pytest_plugins = ["toolcall_conformance.plugin"]
