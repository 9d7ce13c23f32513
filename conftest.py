"""Activates the conformance plugin for this checkout."""

pytest_plugins = ["toolcall_conformance.plugin"]
