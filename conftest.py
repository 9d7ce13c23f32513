"""Activates the conformance plugin for this checkout, once.

"toolcall_conformance" is the package, which is also the installed pytest11 entry point: when that has loaded
it, pytest skips this; otherwise pytest imports the package, whose pytest_plugins loads the hooks.
"""

pytest_plugins = ["toolcall_conformance"]
