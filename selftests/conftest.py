"""The suite's own tests: pytester runs the conformance suite against servers on loopback."""

pytest_plugins = ["pytester"]
