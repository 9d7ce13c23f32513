"""Activates the conformance plugin for this checkout: the package "toolcall_conformance", whose pytest_plugins
loads its hooks (the same name `pytest -p toolcall_conformance` gives it elsewhere, so it is registered once).
"""

pytest_plugins = ["toolcall_conformance"]
